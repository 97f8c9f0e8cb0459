/* luaopen for the engine module "cleanil.core": one table with every engine function. */
#include "lcil.h"
#include "../engine/core/internal.h"

int luaopen_cleanil_core(lua_State *L) {
  cil_set_flush_subnormals(cil_get_flush_subnormals()); /* this thread too (engine/core/fpenv.c) */
  lua_newtable(L);
  cil_open_tensor(L);
  cil_open_nn(L);
  cil_open_env(L);
  cil_open_data(L);
  cil_open_bench(L);
  cil_open_dyn(L);
  cil_open_precision(L); /* after cil_open_bench: adds to cil.sys */
  return 1;
}
