/* Lua bindings: nn (placeholder until the module lands). */
#include "lcil.h"
void cil_open_nn(lua_State *L) { (void)L; }
