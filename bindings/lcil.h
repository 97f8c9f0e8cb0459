/* Shared helpers of the Lua bindings: tensor handles and error conversion. */
#ifndef CIL_LCIL_H
#define CIL_LCIL_H
#include <lauxlib.h>
#include <lua.h>
#include "../engine/core/tensor.h"
#include "../engine/core/rng.h"

#define CIL_TENSOR_MT "cleanil.Tensor"            /* persistent handles */
#define CIL_TENSOR_ARENA_MT "cleanil.ArenaTensor" /* arena handles */
#define CIL_RNG_MT "cleanil.Generator"

/* A Lua handle: persistent tensors are retained by the handle (gen == 0); arena tensors are valid
 * while the arena generation equals gen. */
typedef struct {
  cil_tensor *t;
  uint64_t gen;
} cil_lhandle;

cil_tensor *cil_lua_check(lua_State *L, int idx);        /* a live tensor, or a Lua error */
cil_tensor *cil_lua_opt(lua_State *L, int idx);          /* nil/none -> NULL */
cil_tensor *cil_lua_totensor(lua_State *L, int idx);     /* tensor or number (-> scalar) */
int cil_lua_is(lua_State *L, int idx);                   /* is a tensor handle (live or not) */
void cil_lua_push(lua_State *L, cil_tensor *t);          /* NULL -> raises cil_errmsg() */
int cil_lua_fail(lua_State *L);                          /* raise cil_errmsg() with location */
int cil_lua_raise(lua_State *L, const char *fmt, ...);   /* raise a formatted error with location */
/* shape from varargs of integers or one table starting at idx; returns ndim */
int cil_lua_shape(lua_State *L, int idx, int *shape);
cil_rng *cil_lua_rng_opt(lua_State *L, int idx);          /* generator or default */

/* module openers: each adds its functions to the table on top of the stack */
void cil_open_tensor(lua_State *L);
void cil_open_nn(lua_State *L);
void cil_open_env(lua_State *L);
void cil_open_data(lua_State *L);
void cil_open_bench(lua_State *L);
int luaopen_cleanil_core(lua_State *L);
#endif
