/* Lua bindings: env (placeholder until the module lands). */
#include "lcil.h"
void cil_open_env(lua_State *L) { (void)L; }
