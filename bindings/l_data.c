/* Lua bindings: data (placeholder until the module lands). */
#include "lcil.h"
void cil_open_data(lua_State *L) { (void)L; }
