/* Lua bindings of the dynamics ensemble's fused ops: cil.soft_clamp(l, lo, hi). */
#include "lcil.h"

static int l_soft_clamp(lua_State *L) {
  cil_tensor *l = cil_lua_check(L, 1), *lo = cil_lua_check(L, 2), *hi = cil_lua_check(L, 3);
  cil_lua_push(L, cil_soft_clamp(l, lo, hi));
  return 1;
}

void cil_open_dyn(lua_State *L) {
  lua_pushcfunction(L, l_soft_clamp);
  lua_setfield(L, -2, "soft_clamp");
}
