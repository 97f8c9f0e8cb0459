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

/* Userdata types are told apart by a tag in their first word and by their size, never by their
 * metatable alone: a script can move any metatable onto any userdata (debug.setmetatable), and a
 * check that trusted the metatable would then read one type's memory as another's. */
#define CIL_TAG_TENSOR 0x63696c54656e7372ULL /* "cilTensr" */
#define CIL_TAG_RNG 0x63696c52616e6447ULL    /* "cilRandG" */
#define CIL_TAG_ENV 0x63696c456e766972ULL    /* "cilEnvir" */
#define CIL_TAG_ADAM 0x63696c4164616d4fULL   /* "cilAdamO" */
#define CIL_TAG_BUFFER 0x63696c4275666672ULL /* "cilBuffr" */
#define CIL_TAG_TREE 0x63696c4835547265ULL   /* "cilH5Tre" */
/* new userdata of `size` bytes whose first uint64_t is set to tag, with metatable tname */
void *cil_lua_newud(lua_State *L, size_t size, int nuv, uint64_t tag, const char *tname);
/* the userdata at idx if it is exactly `size` bytes and carries tag; else NULL (no error) */
void *cil_lua_testud(lua_State *L, int idx, size_t size, uint64_t tag);
/* the same, or an error "bad argument #idx: <what> expected, got <type>" */
void *cil_lua_checkud(lua_State *L, int idx, size_t size, uint64_t tag, const char *what);

/* A Lua handle: persistent tensors are retained by the handle (gen == 0); arena tensors are valid
 * while the arena generation equals gen. */
typedef struct {
  uint64_t tag; /* CIL_TAG_TENSOR */
  cil_tensor *t;
  uint64_t gen;
} cil_lhandle;

/* a generator as a Lua value */
typedef struct {
  uint64_t tag; /* CIL_TAG_RNG */
  cil_rng r;
} cil_lrng;
cil_rng *cil_lua_testrng(lua_State *L, int idx);          /* a generator userdata, or NULL */
cil_rng *cil_lua_checkrng(lua_State *L, int idx);         /* a generator, or a Lua error */
cil_rng *cil_lua_pushrng(lua_State *L);                   /* a new generator userdata (state unset) */

cil_tensor *cil_lua_check(lua_State *L, int idx);        /* a live tensor, or a Lua error */
cil_tensor *cil_lua_opt(lua_State *L, int idx);          /* nil/none -> NULL */
cil_tensor *cil_lua_totensor(lua_State *L, int idx);     /* tensor or number (-> scalar) */
int cil_lua_is(lua_State *L, int idx);                   /* is a tensor handle (live or not) */
void cil_lua_push(lua_State *L, cil_tensor *t);          /* NULL -> raises cil_errmsg() */
int cil_lua_fail(lua_State *L);                          /* raise cil_errmsg() with location */
int cil_lua_raise(lua_State *L, const char *fmt, ...);   /* raise a formatted error with location */
/* shape from the arguments idx..top (whole numbers) or one table at idx; returns ndim. Anything else
 * is an error naming fn and the bad size. */
int cil_lua_shape(lua_State *L, int idx, int *shape, const char *fn);
cil_rng *cil_lua_rng_opt(lua_State *L, int idx);          /* generator or default */

/* module openers: each adds its functions to the table on top of the stack */
void cil_open_tensor(lua_State *L);
void cil_open_nn(lua_State *L);
void cil_open_env(lua_State *L);
void cil_open_data(lua_State *L);
void cil_open_bench(lua_State *L);
void cil_open_dyn(lua_State *L);
void cil_open_precision(lua_State *L); /* l_precision.c: set_precision, precision */
int luaopen_cleanil_core(lua_State *L);
#endif
