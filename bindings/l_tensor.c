/* Lua bindings: tensors, autograd, grad mode, the arena, generators. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lcil.h"

/* ================================================================ handles */
int cil_lua_raise(lua_State *L, const char *fmt, ...) {
  va_list ap;
  luaL_where(L, 1);
  if (lua_rawlen(L, -1) == 0) {
    lua_pop(L, 1);
    luaL_where(L, 2);
  }
  char buf[1024]; /* vsnprintf: lua_pushvfstring knows no %lld or %g */
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  lua_pushstring(L, buf);
  lua_concat(L, 2);
  return lua_error(L);
}
int cil_lua_fail(lua_State *L) { return cil_lua_raise(L, "%s", cil_errmsg()); }

/* ---- tagged userdata (lcil.h) ---- */
void *cil_lua_newud(lua_State *L, size_t size, int nuv, uint64_t tag, const char *tname) {
  void *p = lua_newuserdatauv(L, size, nuv);
  memset(p, 0, size);
  *(uint64_t *)p = tag;
  luaL_setmetatable(L, tname);
  return p;
}
void *cil_lua_testud(lua_State *L, int idx, size_t size, uint64_t tag) {
  if (lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) != size) return NULL;
  void *p = lua_touserdata(L, idx);
  return *(const uint64_t *)p == tag ? p : NULL;
}
void *cil_lua_checkud(lua_State *L, int idx, size_t size, uint64_t tag, const char *what) {
  void *p = cil_lua_testud(L, idx, size, tag);
  if (!p) cil_lua_raise(L, "bad argument #%d: %s expected, got %s", idx, what, luaL_typename(L, idx));
  return p;
}

/* Two metatables with the same methods: persistent handles have __gc (they hold a reference);
 * arena handles have none, so the collector frees them without a finalizer pass. A handle is known by
 * its tag, whatever metatable it has been given. */
static cil_lhandle *testhandle(lua_State *L, int idx) {
  return cil_lua_testud(L, idx, sizeof(cil_lhandle), CIL_TAG_TENSOR);
}
int cil_lua_is(lua_State *L, int idx) { return testhandle(L, idx) != NULL; }

cil_tensor *cil_lua_check(lua_State *L, int idx) {
  cil_lhandle *h = testhandle(L, idx);
  if (!h) {
    const char *tn = luaL_typename(L, idx);
    if (idx > 0) cil_lua_raise(L, "bad argument #%d: tensor expected, got %s", idx, tn);
    /* an element of a list argument (the list was pushed onto the stack): name the function */
    lua_Debug ar;
    const char *fn = lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name ? ar.name : NULL;
    cil_lua_raise(L, "%s%san element of a list argument is %s, expected a tensor (a list of tensors)",
                  fn ? fn : "", fn ? ": " : "", tn);
  }
  if (!h->t) cil_lua_raise(L, "bad argument #%d: tensor was freed", idx);
  if (h->gen && h->gen != cil_arena_gen())
    cil_lua_raise(L, "bad argument #%d: this tensor was freed by cil.reset() (it was made during an "
                     "earlier update); keep tensors across updates with :persist()", idx);
  return h->t;
}
cil_tensor *cil_lua_opt(lua_State *L, int idx) {
  return lua_isnoneornil(L, idx) ? NULL : cil_lua_check(L, idx);
}
cil_tensor *cil_lua_totensor(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    cil_tensor *t = cil_scalar((float)lua_tonumber(L, idx));
    if (!t) cil_lua_fail(L);
    return t;
  }
  return cil_lua_check(L, idx);
}

void cil_lua_push(lua_State *L, cil_tensor *t) {
  if (!t) {
    cil_lua_fail(L);
    return;
  }
  cil_lhandle *h = cil_lua_newud(L, sizeof *h, 0, CIL_TAG_TENSOR,
                                 t->persistent ? CIL_TENSOR_MT : CIL_TENSOR_ARENA_MT);
  h->t = t;
  if (t->persistent) {
    cil_retain(t);
    h->gen = 0;
  } else {
    h->gen = cil_arena_gen();
  }
}

static int t_gc(lua_State *L) {
  cil_lhandle *h = testhandle(L, 1);
  if (!h) return 0;
  if (h->t && h->gen == 0) cil_release(h->t);
  h->t = NULL;
  return 0;
}

/* one size: an integer, or a float holding a whole number, in -1..2^31-1 (-1: inferred by reshape) */
static int shape_entry(lua_State *L, int idx, int k, const char *fn) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    return cil_lua_raise(L, "%s: size %d is %s%s, expected a whole number", fn, k,
                         lua_isnil(L, idx) ? "" : "a ", luaL_typename(L, idx));
  if (!lua_isinteger(L, idx)) {
    double v = lua_tonumber(L, idx);
    if (v != floor(v)) /* also NaN */
      return cil_lua_raise(L, "%s: size %d is %g, not a whole number", fn, k, v);
    if (v < -1 || v > 2147483647.0)
      return cil_lua_raise(L, "%s: size %d is %g, out of range (sizes are 0..2147483647)", fn, k, v);
    return (int)v;
  }
  lua_Integer v = lua_tointeger(L, idx);
  if (v < -1 || v > 2147483647)
    return cil_lua_raise(L, "%s: size %d is %lld, out of range (sizes are 0..2147483647)", fn, k,
                         (long long)v);
  return (int)v;
}
/* every argument from idx on is a size (or one table of sizes) */
int cil_lua_shape(lua_State *L, int idx, int *shape, const char *fn) {
  int top = lua_gettop(L), nd = 0;
  if (lua_istable(L, idx)) {
    lua_Unsigned len = lua_rawlen(L, idx);
    if (len > CIL_MAXDIM) cil_lua_raise(L, "%s: shape has %d dims; at most %d", fn, (int)(len > 99 ? 99 : len), CIL_MAXDIM);
    nd = (int)len;
    for (int i = 0; i < nd; i++) {
      lua_rawgeti(L, idx, i + 1);
      shape[i] = shape_entry(L, -1, i + 1, fn);
      lua_pop(L, 1);
    }
    return nd;
  }
  if (top - idx + 1 > CIL_MAXDIM)
    cil_lua_raise(L, "%s: shape has %d dims; at most %d", fn, top - idx + 1, CIL_MAXDIM);
  for (int i = idx; i <= top; i++, nd++) shape[nd] = shape_entry(L, i, nd + 1, fn);
  return nd;
}

static int getdim(lua_State *L, int idx, const cil_tensor *t) {
  lua_Integer d = luaL_checkinteger(L, idx);
  if (d == 0 || d > t->ndim || d < -t->ndim)
    cil_lua_raise(L, "dim %d out of range for %s (dims are 1..%d or negative from the end)", (int)d,
                  cil_shapestr(t), t->ndim);
  return d > 0 ? (int)d - 1 : (int)d + t->ndim;
}
static int optdim(lua_State *L, int idx, const cil_tensor *t) {
  return lua_isnoneornil(L, idx) ? CIL_ALLDIMS : getdim(L, idx, t);
}

/* ================================================================ creation */
static void fill_from_table(lua_State *L, int idx, int depth, int nd, int *shape, float **p) {
  int n = (int)lua_rawlen(L, idx);
  if (depth >= CIL_MAXDIM) return;
  if (n != shape[depth]) cil_lua_raise(L, "tensor: ragged nested table (dim %d has sizes %d and %d)", depth + 1, shape[depth], n);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    if (depth + 1 < nd) {
      if (!lua_istable(L, -1)) cil_lua_raise(L, "tensor: ragged nested table at depth %d", depth + 1);
      fill_from_table(L, lua_gettop(L), depth + 1, nd, shape, p);
    } else {
      if (!lua_isnumber(L, -1)) cil_lua_raise(L, "tensor: element is a %s, not a number", luaL_typename(L, -1));
      *(*p)++ = (float)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
  }
}

static int l_tensor(lua_State *L) {
  if (lua_isnumber(L, 1)) {
    cil_lua_push(L, cil_scalar((float)lua_tonumber(L, 1)));
    return 1;
  }
  if (cil_lua_is(L, 1)) {
    cil_lua_push(L, cil_clone(cil_lua_check(L, 1)));
    return 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  int shape[CIL_MAXDIM], nd = 0;
  lua_pushvalue(L, 1);
  while (lua_istable(L, -1)) {
    if (nd == CIL_MAXDIM) cil_lua_raise(L, "tensor: more than %d levels of nesting", CIL_MAXDIM);
    shape[nd++] = (int)lua_rawlen(L, -1);
    if (shape[nd - 1] == 0) break;
    lua_rawgeti(L, -1, 1);
  }
  lua_settop(L, 1);
  cil_tensor *t = cil_new(nd, shape);
  if (!t) return cil_lua_fail(L);
  float *p = t->data;
  if (t->numel) fill_from_table(L, 1, 0, nd, shape, &p);
  cil_lua_push(L, t);
  return 1;
}

static int l_zeros(lua_State *L) {
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, 1, s, "zeros");
  cil_lua_push(L, cil_zeros(nd, s));
  return 1;
}
static int l_ones(lua_State *L) {
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, 1, s, "ones");
  cil_lua_push(L, cil_full(nd, s, 1.0f));
  return 1;
}
static int l_full(lua_State *L) { /* full(shape_table, value) */
  luaL_checktype(L, 1, LUA_TTABLE);
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, 1, s, "full");
  cil_lua_push(L, cil_full(nd, s, (float)luaL_checknumber(L, 2)));
  return 1;
}
static int l_arange(lua_State *L) {
  double a = luaL_checknumber(L, 1);
  if (lua_isnoneornil(L, 2)) {
    cil_lua_push(L, cil_arange(0, a, 1));
  } else {
    cil_lua_push(L, cil_arange(a, luaL_checknumber(L, 2), luaL_optnumber(L, 3, 1)));
  }
  return 1;
}

/* ---- generators ---- */
cil_rng *cil_lua_testrng(lua_State *L, int idx) {
  cil_lrng *u = cil_lua_testud(L, idx, sizeof(cil_lrng), CIL_TAG_RNG);
  return u ? &u->r : NULL;
}
cil_rng *cil_lua_checkrng(lua_State *L, int idx) {
  return &((cil_lrng *)cil_lua_checkud(L, idx, sizeof(cil_lrng), CIL_TAG_RNG, "generator"))->r;
}
cil_rng *cil_lua_pushrng(lua_State *L) {
  return &((cil_lrng *)cil_lua_newud(L, sizeof(cil_lrng), 0, CIL_TAG_RNG, CIL_RNG_MT))->r;
}
cil_rng *cil_lua_rng_opt(lua_State *L, int idx) {
  cil_rng *r = cil_lua_testrng(L, idx);
  return r ? r : cil_default_rng();
}
/* a generator (or nil = the default generator) may come first */
static int rng_shift(lua_State *L) {
  return (cil_lua_testrng(L, 1) || (lua_isnil(L, 1) && lua_gettop(L) > 1)) ? 2 : 1;
}
static int l_rand(lua_State *L) {
  cil_rng *r = cil_lua_rng_opt(L, 1);
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, rng_shift(L), s, "rand");
  cil_lua_push(L, cil_rand(r, nd, s, 0.0f, 1.0f));
  return 1;
}
static int l_randn(lua_State *L) {
  cil_rng *r = cil_lua_rng_opt(L, 1);
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, rng_shift(L), s, "randn");
  cil_lua_push(L, cil_randn(r, nd, s, 0.0f, 1.0f));
  return 1;
}
static int l_uniform(lua_State *L) { /* uniform([rng,] lo, hi, shape...) */
  cil_rng *r = cil_lua_rng_opt(L, 1);
  int k = rng_shift(L);
  float lo = (float)luaL_checknumber(L, k), hi = (float)luaL_checknumber(L, k + 1);
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, k + 2, s, "uniform");
  cil_lua_push(L, cil_rand(r, nd, s, lo, hi));
  return 1;
}
static int l_normal(lua_State *L) { /* normal([rng,] mean, std, shape...) */
  cil_rng *r = cil_lua_rng_opt(L, 1);
  int k = rng_shift(L);
  float m = (float)luaL_checknumber(L, k), sd = (float)luaL_checknumber(L, k + 1);
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, k + 2, s, "normal");
  cil_lua_push(L, cil_randn(r, nd, s, m, sd));
  return 1;
}
static int l_randint(lua_State *L) { /* randint([rng,] lo, hi, shape...): integers in [lo, hi] */
  cil_rng *r = cil_lua_rng_opt(L, 1);
  int k = rng_shift(L);
  lua_Integer lo = luaL_checkinteger(L, k), hi = luaL_checkinteger(L, k + 1);
  const lua_Integer lim = (lua_Integer)1 << 24; /* checked before hi + 1 can overflow */
  if (lo < -lim || lo > lim || hi < -lim || hi > lim)
    return cil_lua_raise(L, "randint: bounds %lld and %lld must lie within -2^24..2^24 (integers exact in float32)",
                         (long long)lo, (long long)hi);
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, k + 2, s, "randint");
  cil_lua_push(L, cil_randint(r, nd, s, lo, hi + 1));
  return 1;
}
static int l_randperm(lua_State *L) { /* randperm([rng,] n): permutation of 1..n */
  cil_rng *r = cil_lua_rng_opt(L, 1);
  cil_lua_push(L, cil_randperm(r, luaL_checkinteger(L, rng_shift(L)), 1));
  return 1;
}
static int l_rng_new(lua_State *L) {
  cil_rng *r = cil_lua_pushrng(L);
  cil_rng_seed(r, (uint64_t)luaL_optinteger(L, 1, 0));
  return 1;
}
static int l_manual_seed(lua_State *L) {
  cil_rng_seed(cil_default_rng(), (uint64_t)luaL_checkinteger(L, 1));
  return 0;
}
static int rng_seed(lua_State *L) {
  cil_rng_seed(cil_lua_checkrng(L, 1), (uint64_t)luaL_checkinteger(L, 2));
  return 0;
}
static int rng_random(lua_State *L) { /* a Lua number in [0,1), or an integer in [1, n] */
  cil_rng *r = cil_lua_checkrng(L, 1);
  if (lua_isnoneornil(L, 2)) lua_pushnumber(L, cil_rng_uniform(r));
  else {
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 1, 2, "n must be >= 1");
    lua_pushinteger(L, 1 + (lua_Integer)cil_rng_below(r, (uint64_t)n));
  }
  return 1;
}
static int rng_gauss(lua_State *L) {
  lua_pushnumber(L, cil_rng_normal(cil_lua_checkrng(L, 1)));
  return 1;
}
static int rng_state(lua_State *L) {
  cil_rng *r = cil_lua_checkrng(L, 1);
  lua_pushlstring(L, (const char *)r->s, sizeof r->s);
  return 1;
}
static int rng_set_state(lua_State *L) {
  cil_rng *r = cil_lua_checkrng(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  if (n != sizeof r->s) return cil_lua_raise(L, "set_state: state must be %d bytes, got %d", (int)sizeof r->s, (int)n);
  memcpy(r->s, s, n);
  return 0;
}
static int l_default_rng(lua_State *L) { /* a copy-able view: state/set_state of the default rng */
  cil_rng *r = cil_lua_pushrng(L);
  *r = *cil_default_rng();
  return 1;
}
static int l_default_state(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_pushlstring(L, (const char *)cil_default_rng()->s, sizeof(cil_default_rng()->s));
    return 1;
  }
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if (n != sizeof(cil_default_rng()->s)) return cil_lua_raise(L, "rng state must be 32 bytes");
  memcpy(cil_default_rng()->s, s, n);
  return 0;
}

/* ================================================================ info */
static int t_shape(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  lua_createtable(L, t->ndim, 0);
  for (int d = 0; d < t->ndim; d++) {
    lua_pushinteger(L, t->shape[d]);
    lua_rawseti(L, -2, d + 1);
  }
  return 1;
}
static int t_size(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  if (lua_isnoneornil(L, 2)) return t_shape(L);
  lua_pushinteger(L, t->shape[getdim(L, 2, t)]);
  return 1;
}
static int t_dim(lua_State *L) {
  lua_pushinteger(L, cil_lua_check(L, 1)->ndim);
  return 1;
}
static int t_numel(lua_State *L) {
  lua_pushinteger(L, cil_lua_check(L, 1)->numel);
  return 1;
}
static int t_item(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  if (t->numel != 1) return cil_lua_raise(L, "item: tensor %s has %lld elements, expected 1", cil_shapestr(t), (long long)t->numel);
  lua_pushnumber(L, t->data[0]);
  return 1;
}
static void push_nested(lua_State *L, const float *p, const cil_tensor *t, int d) {
  if (d >= t->ndim || d >= CIL_MAXDIM) {
    lua_pushnumber(L, *p);
    return;
  }
  int64_t stride = 1;
  for (int k = d + 1; k < t->ndim && k < CIL_MAXDIM; k++) stride *= t->shape[k];
  lua_createtable(L, t->shape[d], 0);
  for (int i = 0; i < t->shape[d]; i++) {
    push_nested(L, p + i * stride, t, d + 1);
    lua_rawseti(L, -2, i + 1);
  }
}
static int t_totable(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  push_nested(L, t->data, t, 0);
  return 1;
}
static int t_is_persistent(lua_State *L) {
  lua_pushboolean(L, cil_lua_check(L, 1)->persistent);
  return 1;
}
static int t_requires_grad(lua_State *L) {
  lua_pushboolean(L, cil_lua_check(L, 1)->requires_grad);
  return 1;
}
static int t_requires_grad_(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  int on = lua_isnone(L, 2) ? 1 : lua_toboolean(L, 2);
  if (t->node && !on) return cil_lua_raise(L, "requires_grad_: %s is the result of an op; use detach()", cil_shapestr(t));
  t->requires_grad = (uint8_t)on;
  lua_settop(L, 1);
  return 1;
}

/* tostring: shape and abbreviated values */
static void fmt_row(luaL_Buffer *b, const float *p, int n) {
  char s[32];
  int lim = n > 8 ? 3 : n;
  for (int j = 0; j < lim; j++) {
    snprintf(s, sizeof s, " %10.4g", p[j]);
    luaL_addstring(b, s);
  }
  if (n > 8) {
    luaL_addstring(b, "        ...");
    for (int j = n - 3; j < n; j++) {
      snprintf(s, sizeof s, " %10.4g", p[j]);
      luaL_addstring(b, s);
    }
  }
}
static void fmt_matrix(luaL_Buffer *b, const float *p, int r, int c) {
  int lim = r > 8 ? 3 : r;
  for (int i = 0; i < lim; i++) {
    luaL_addstring(b, "\n");
    fmt_row(b, p + (int64_t)i * c, c);
  }
  if (r > 8) {
    luaL_addstring(b, "\n   ...");
    for (int i = r - 3; i < r; i++) {
      luaL_addstring(b, "\n");
      fmt_row(b, p + (int64_t)i * c, c);
    }
  }
}
static int t_tostring(lua_State *L) {
  cil_lhandle *h = testhandle(L, 1);
  if (!h) return luaL_error(L, "tensor expected");
  if (!h->t || (h->gen && h->gen != cil_arena_gen())) {
    lua_pushstring(L, "tensor (freed)");
    return 1;
  }
  cil_tensor *t = h->t;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char s[96];
  snprintf(s, sizeof s, "tensor%s%s%s", cil_shapestr(t), t->persistent ? " persistent" : "",
           t->requires_grad ? (t->node ? " grad_fn" : " requires_grad") : "");
  luaL_addstring(&b, s);
  if (t->ndim == 0) {
    snprintf(s, sizeof s, "\n %.6g", t->data[0]);
    luaL_addstring(&b, s);
  } else if (t->ndim == 1) {
    luaL_addstring(&b, "\n");
    fmt_row(&b, t->data, t->shape[0]);
  } else {
    int r = t->shape[t->ndim - 2], c = t->shape[t->ndim - 1];
    int64_t nmat = t->numel / ((int64_t)r * c > 0 ? (int64_t)r * c : 1);
    for (int64_t m = 0; m < nmat && m < 2; m++) {
      if (t->ndim > 2) {
        snprintf(s, sizeof s, "\n(matrix %lld of %lld)", (long long)m + 1, (long long)nmat);
        luaL_addstring(&b, s);
      }
      fmt_matrix(&b, t->data + m * r * c, r, c);
    }
    if (nmat > 2) luaL_addstring(&b, "\n(...)");
  }
  luaL_pushresult(&b);
  return 1;
}

/* ================================================================ ops */
static int t_reshape(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, 2, s, "reshape");
  cil_lua_push(L, cil_reshape(t, nd, s));
  return 1;
}
static int t_transpose(lua_State *L) {
  cil_lua_push(L, cil_transpose(cil_lua_check(L, 1)));
  return 1;
}
static int t_narrow(lua_State *L) { /* narrow(dim, start(1-based), len) */
  cil_tensor *t = cil_lua_check(L, 1);
  int d = getdim(L, 2, t);
  lua_Integer st = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
  if (st < 1 || st > (lua_Integer)t->shape[d] + 1 || len < 0 || len > t->shape[d] - (st - 1))
    return cil_lua_raise(L, "narrow: rows %lld..%.0f out of range 1..%d in dim %d of %s", (long long)st,
                         (double)st + (double)len - 1, t->shape[d], d + 1, cil_shapestr(t));
  cil_lua_push(L, cil_narrow(t, d, (int)st - 1, (int)len));
  return 1;
}
static int t_rows(lua_State *L) { /* rows(i, j): rows i..j inclusive (1-based), a view */
  cil_tensor *t = cil_lua_check(L, 1);
  if (t->ndim < 1) return cil_lua_raise(L, "rows: needs at least 1 dim, got a scalar");
  lua_Integer i = luaL_checkinteger(L, 2), j = luaL_optinteger(L, 3, i);
  /* i is checked first, so i - 1 and j - i + 1 cannot overflow */
  if (i < 1 || i > (lua_Integer)t->shape[0] + 1 || j > t->shape[0] || j < i - 1)
    return cil_lua_raise(L, "rows: %lld..%lld out of range 1..%d for %s", (long long)i, (long long)j, t->shape[0],
                         cil_shapestr(t));
  cil_lua_push(L, cil_narrow(t, 0, (int)i - 1, (int)(j - i + 1)));
  return 1;
}
static int t_expand(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, 2, s, "expand");
  cil_lua_push(L, cil_expand(t, nd, s));
  return 1;
}
static int t_index_select(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  int d = getdim(L, 2, t);
  cil_lua_push(L, cil_index_select(t, d, cil_lua_check(L, 3), 1));
  return 1;
}
static int t_gather(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  int d = getdim(L, 2, t);
  cil_lua_push(L, cil_gather(t, d, cil_lua_check(L, 3), 1));
  return 1;
}
static int t_detach(lua_State *L) {
  cil_lua_push(L, cil_detach(cil_lua_check(L, 1)));
  return 1;
}
static int t_clone(lua_State *L) {
  cil_lua_push(L, cil_clone(cil_lua_check(L, 1)));
  return 1;
}
static int t_persist(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  cil_tensor *p = cil_persist(t);
  if (!p) return cil_lua_fail(L);
  p->requires_grad = t->requires_grad && !t->node ? 1 : 0;
  cil_lua_push(L, p);
  cil_release(p); /* the handle holds the only reference */
  return 1;
}
static int l_param(lua_State *L) { /* param(tensor) or param(shape...): persistent leaf requiring grad */
  cil_tensor *p;
  if (cil_lua_is(L, 1)) p = cil_persist(cil_lua_check(L, 1));
  else {
    int s[CIL_MAXDIM], nd = cil_lua_shape(L, 1, s, "param");
    p = cil_persistent(nd, s);
  }
  if (!p) return cil_lua_fail(L);
  p->requires_grad = 1;
  cil_lua_push(L, p);
  cil_release(p);
  return 1;
}
static int l_persistent(lua_State *L) { /* persistent zeros of a shape (no grad) */
  int s[CIL_MAXDIM], nd = cil_lua_shape(L, 1, s, "persistent");
  cil_tensor *p = cil_persistent(nd, s);
  if (!p) return cil_lua_fail(L);
  cil_lua_push(L, p);
  cil_release(p);
  return 1;
}
static int t_copy_(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  if (lua_isnumber(L, 2)) {
    if (!cil_fill_(t, (float)lua_tonumber(L, 2))) return cil_lua_fail(L);
  } else if (!cil_copy_(t, cil_lua_check(L, 2)))
    return cil_lua_fail(L);
  lua_settop(L, 1);
  return 1;
}
static int t_fill_(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  if (!cil_fill_(t, (float)luaL_checknumber(L, 2))) return cil_lua_fail(L);
  lua_settop(L, 1);
  return 1;
}
static int t_zero_grad(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  if (t->grad) {
    if (t->persistent) memset(t->grad->data, 0, (size_t)t->grad->numel * sizeof(float));
    else t->grad = NULL;
  }
  return 0;
}

/* binary ops with numbers or tensors on either side */
static int binop(lua_State *L, cil_binop op) {
  if (lua_type(L, 1) == LUA_TNUMBER) {
    cil_tensor *b = cil_lua_check(L, 2);
    cil_lua_push(L, cil_rbinary_s(op, (float)lua_tonumber(L, 1), b));
  } else if (lua_type(L, 2) == LUA_TNUMBER) {
    cil_tensor *a = cil_lua_check(L, 1);
    cil_lua_push(L, cil_binary_s(op, a, (float)lua_tonumber(L, 2)));
  } else {
    cil_tensor *a = cil_lua_check(L, 1), *b = cil_lua_check(L, 2);
    cil_lua_push(L, cil_binary(op, a, b));
  }
  return 1;
}
#define BINOP(name, op)                                                                            \
  static int t_##name(lua_State *L) { return binop(L, op); }
BINOP(add, CIL_ADD)
BINOP(sub, CIL_SUB)
BINOP(mul, CIL_MUL)
BINOP(div, CIL_DIV)
BINOP(pow, CIL_POW)
BINOP(minimum, CIL_MINIMUM)
BINOP(maximum, CIL_MAXIMUM)
BINOP(lt, CIL_LT)
BINOP(le, CIL_LE)
BINOP(gt, CIL_GT)
BINOP(ge, CIL_GE)
BINOP(eq, CIL_EQ)
BINOP(ne, CIL_NE)

static int unop(lua_State *L, cil_unop op) {
  cil_lua_push(L, cil_unary(op, cil_lua_check(L, 1)));
  return 1;
}
#define UNOP(name, op)                                                                             \
  static int t_##name(lua_State *L) { return unop(L, op); }
UNOP(neg, CIL_NEG)
UNOP(exp, CIL_EXP)
UNOP(log, CIL_LOG)
UNOP(sqrt, CIL_SQRT)
UNOP(square, CIL_SQUARE)
UNOP(abs, CIL_ABS)
UNOP(tanh, CIL_TANH)
UNOP(atanh, CIL_ATANH)
UNOP(sigmoid, CIL_SIGMOID)
UNOP(softplus, CIL_SOFTPLUS)
UNOP(relu, CIL_RELU)
UNOP(silu, CIL_SILU)
UNOP(sign, CIL_SIGN)

static int t_leaky_relu(lua_State *L) {
  cil_lua_push(L, cil_leaky_relu(cil_lua_check(L, 1), (float)luaL_optnumber(L, 2, 0.01)));
  return 1;
}
static int t_clamp(lua_State *L) { /* clamp(lo, hi): nil = unbounded side; tensors -> max/min */
  cil_tensor *t = cil_lua_check(L, 1);
  if (cil_lua_is(L, 2) || cil_lua_is(L, 3)) {
    cil_tensor *r = t;
    if (!lua_isnoneornil(L, 2)) r = cil_binary(CIL_MAXIMUM, r, cil_lua_totensor(L, 2));
    if (r && !lua_isnoneornil(L, 3)) r = cil_binary(CIL_MINIMUM, r, cil_lua_totensor(L, 3));
    cil_lua_push(L, r);
    return 1;
  }
  float lo = lua_isnoneornil(L, 2) ? -INFINITY : (float)luaL_checknumber(L, 2);
  float hi = lua_isnoneornil(L, 3) ? INFINITY : (float)luaL_checknumber(L, 3);
  cil_lua_push(L, cil_clamp(t, lo, hi));
  return 1;
}
static int l_where(lua_State *L) {
  cil_tensor *c = cil_lua_check(L, 1);
  cil_tensor *a = cil_lua_totensor(L, 2), *b = cil_lua_totensor(L, 3);
  cil_lua_push(L, cil_where(c, a, b));
  return 1;
}

static int reduce(lua_State *L, cil_reduce_op op) {
  cil_tensor *t = cil_lua_check(L, 1);
  int d = optdim(L, 2, t);
  int keep = lua_toboolean(L, 3);
  cil_lua_push(L, cil_reduce(op, t, d, keep));
  if ((op == CIL_MAX || op == CIL_MIN) && d != CIL_ALLDIMS) { /* torch-style values, indices */
    cil_lua_push(L, cil_argmax(t, d, keep, 1, op == CIL_MIN));
    return 2;
  }
  return 1;
}
#define REDUCE(name, op)                                                                           \
  static int t_##name(lua_State *L) { return reduce(L, op); }
REDUCE(sum, CIL_SUM)
REDUCE(mean, CIL_MEAN)
REDUCE(max, CIL_MAX)
REDUCE(min, CIL_MIN)
REDUCE(logsumexp, CIL_LOGSUMEXP)
static int t_argmax(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  cil_lua_push(L, cil_argmax(t, optdim(L, 2, t), lua_toboolean(L, 3), 1, 0));
  return 1;
}
static int t_argmin(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  cil_lua_push(L, cil_argmax(t, optdim(L, 2, t), lua_toboolean(L, 3), 1, 1));
  return 1;
}
static int t_norm(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  cil_lua_push(L, cil_norm(t, optdim(L, 2, t), lua_toboolean(L, 3)));
  return 1;
}
static int t_sumsq(lua_State *L) {
  cil_lua_push(L, cil_sumsq_all(cil_lua_check(L, 1)));
  return 1;
}
static int t_matmul(lua_State *L) {
  cil_tensor *a = cil_lua_check(L, 1), *b = cil_lua_check(L, 2);
  cil_lua_push(L, cil_matmul(a, b));
  return 1;
}
static int l_linear(lua_State *L) {
  cil_tensor *x = cil_lua_check(L, 1), *w = cil_lua_check(L, 2), *b = cil_lua_opt(L, 3);
  cil_lua_push(L, cil_linear(x, w, b));
  return 1;
}

/* cil.ensemble_linear(x, W, b [, act]): act "silu" | "relu" | "tanh" | "sigmoid" is applied to the
 * output, inside the product when no graph is recorded */
static int l_elinear(lua_State *L) {
  cil_tensor *x = cil_lua_check(L, 1), *w = cil_lua_check(L, 2), *b = cil_lua_opt(L, 3);
  if (lua_isnoneornil(L, 4)) {
    cil_lua_push(L, cil_elinear(x, w, b));
    return 1;
  }
  static const char *const names[] = {"silu", "relu", "tanh", "sigmoid", NULL};
  static const cil_unop ops[] = {CIL_SILU, CIL_RELU, CIL_TANH, CIL_SIGMOID};
  int i = luaL_checkoption(L, 4, NULL, names);
  cil_lua_push(L, cil_elinear_act(x, w, b, ops[i]));
  return 1;
}

/* cil.mlp_forward(x, weights, biases, act, kind): a whole MLP, act ("silu" | "relu" | "tanh" | "sigmoid" |
 * nil: none) after every layer but the last; kind "ensemble" (weights [E,in,out], biases [E,1,out], as
 * ensemble_linear) or "linear" (weights [out,in], biases [out], as linear). biases: a list as long as
 * weights (false for a layer without one), or nil. Without a graph on >= 1024 rows it runs in row blocks
 * (engine/core/mlp_forward.c), with the bits of the layer-by-layer ops. */
static int l_mlp_forward(lua_State *L) {
  cil_tensor *x = cil_lua_check(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int nl = (int)lua_rawlen(L, 2);
  if (nl < 1 || nl > 64) return cil_lua_raise(L, "mlp_forward: weights must be a list of 1 to 64 tensors, got %d", nl);
  int hasb = !lua_isnoneornil(L, 3);
  if (hasb) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if ((int)lua_rawlen(L, 3) != nl) return cil_lua_raise(L, "mlp_forward: %d weights but %d biases", nl, (int)lua_rawlen(L, 3));
  }
  static const char *const names[] = {"silu", "relu", "tanh", "sigmoid", NULL};
  static const cil_unop ops[] = {CIL_SILU, CIL_RELU, CIL_TANH, CIL_SIGMOID};
  int act = lua_isnoneornil(L, 4) ? 0 : 1 + (int)ops[luaL_checkoption(L, 4, NULL, names)];
  static const char *const kinds[] = {"linear", "ensemble", NULL};
  int ens = luaL_checkoption(L, 5, "linear", kinds);
  cil_tensor **w = cil_arena_alloc(2 * nl * sizeof *w);
  if (!w) cil_lua_fail(L);
  cil_tensor **b = w + nl;
  for (int i = 0; i < nl; i++) {
    lua_rawgeti(L, 2, i + 1);
    w[i] = cil_lua_check(L, -1);
    lua_pop(L, 1);
    b[i] = NULL;
    if (hasb) {
      lua_rawgeti(L, 3, i + 1);
      if (lua_toboolean(L, -1)) b[i] = cil_lua_check(L, -1);
      lua_pop(L, 1);
    }
  }
  cil_lua_push(L, cil_mlp_forward(x, w, b, nl, act, ens));
  return 1;
}

static int gather_list(lua_State *L, int idx, cil_tensor ***out, const char *what) {
  luaL_checktype(L, idx, LUA_TTABLE);
  int n = (int)lua_rawlen(L, idx);
  if (n == 0) cil_lua_raise(L, "%s: empty list of tensors", what);
  cil_tensor **xs = cil_arena_alloc(n * sizeof *xs);
  if (!xs) cil_lua_fail(L);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, idx, i + 1);
    xs[i] = cil_lua_check(L, -1);
    lua_pop(L, 1);
  }
  *out = xs;
  return n;
}
static int catlike(lua_State *L, int stack) {
  cil_tensor **xs;
  int n = gather_list(L, 1, &xs, stack ? "stack" : "cat");
  lua_Integer d = luaL_optinteger(L, 2, 1);
  int nd = xs[0]->ndim + stack;
  if (d == 0 || d > nd || d < -nd) return cil_lua_raise(L, "%s: dim %d out of range", stack ? "stack" : "cat", (int)d);
  int dd = d > 0 ? (int)d - 1 : (int)d + nd;
  cil_lua_push(L, stack ? cil_stack(xs, n, dd) : cil_cat(xs, n, dd));
  return 1;
}
static int l_cat(lua_State *L) { return catlike(L, 0); }
static int l_stack(lua_State *L) { return catlike(L, 1); }

/* ================================================================ autograd */
static int get_opt_bool(lua_State *L, int idx, const char *key, int def) {
  if (!lua_istable(L, idx)) return def;
  lua_getfield(L, idx, key);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}
static int list_or_one(lua_State *L, int idx, cil_tensor ***out, const char *what) {
  if (cil_lua_is(L, idx)) {
    cil_tensor **xs = cil_arena_alloc(sizeof *xs);
    xs[0] = cil_lua_check(L, idx);
    *out = xs;
    return 1;
  }
  return gather_list(L, idx, out, what);
}

static int t_backward(lua_State *L) { /* loss:backward([gout], [{inputs=, create_graph=}]) */
  cil_tensor *t = cil_lua_check(L, 1);
  int oi = 2;
  cil_tensor *g = NULL;
  if (cil_lua_is(L, 2)) {
    g = cil_lua_check(L, 2);
    oi = 3;
  }
  cil_tensor **ins = NULL;
  int nin = 0;
  if (lua_istable(L, oi)) {
    lua_getfield(L, oi, "inputs");
    if (!lua_isnil(L, -1)) nin = list_or_one(L, lua_gettop(L), &ins, "backward");
    lua_pop(L, 1);
  }
  if (!cil_backward(t, g, ins, nin, get_opt_bool(L, oi, "create_graph", 0))) return cil_lua_fail(L);
  return 0;
}

static int l_grad(lua_State *L) { /* grad(outputs, inputs, {create_graph=, grad_outputs=, allow_unused=}) */
  cil_tensor **outs, **ins, **gouts = NULL;
  int no = list_or_one(L, 1, &outs, "grad");
  int single = cil_lua_is(L, 2);
  int ni = list_or_one(L, 2, &ins, "grad");
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "grad_outputs");
    if (!lua_isnil(L, -1)) {
      int ng = list_or_one(L, lua_gettop(L), &gouts, "grad");
      if (ng != no) return cil_lua_raise(L, "grad: %d grad_outputs for %d outputs", ng, no);
    }
    lua_pop(L, 1);
  }
  cil_tensor **res = cil_arena_alloc(ni * sizeof *res);
  if (!res) return cil_lua_fail(L);
  if (!cil_grad(outs, gouts, no, ins, ni, get_opt_bool(L, 3, "create_graph", 0),
                get_opt_bool(L, 3, "allow_unused", 0), res))
    return cil_lua_fail(L);
  if (single) {
    if (res[0]) cil_lua_push(L, res[0]);
    else lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, ni, 0);
  for (int i = 0; i < ni; i++) {
    if (res[i]) cil_lua_push(L, res[i]);
    else lua_pushboolean(L, 0);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int l_no_grad(lua_State *L) { /* no_grad(fn, ...): call fn with recording off */
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int prev = cil_set_grad_enabled(0);
  int n = lua_gettop(L);
  int st = lua_pcall(L, n - 1, LUA_MULTRET, 0);
  cil_set_grad_enabled(prev);
  if (st != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}
static int l_set_grad_enabled(lua_State *L) {
  lua_pushboolean(L, cil_set_grad_enabled(lua_toboolean(L, 1)));
  return 1;
}
static int l_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, cil_grad_enabled());
  return 1;
}
static int l_reset(lua_State *L) {
  (void)L;
  cil_arena_reset();
  return 0;
}
static int l_arena_info(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)cil_arena_bytes());
  lua_pushinteger(L, (lua_Integer)cil_arena_capacity());
  lua_pushinteger(L, cil_tape_length());
  return 3;
}
static int l_set_num_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 256, 1, "thread count must be 1..256");
  cil_set_num_threads((int)n);
  return 0;
}
static int l_get_num_threads(lua_State *L) {
  lua_pushinteger(L, cil_get_num_threads());
  return 1;
}
static int l_is_tensor(lua_State *L) {
  lua_pushboolean(L, cil_lua_is(L, 1));
  return 1;
}

/* t[i]: number for 1-D, row view otherwise; methods and .grad otherwise */
static int t_index(lua_State *L) {
  if (lua_type(L, 2) == LUA_TNUMBER) {
    cil_tensor *t = cil_lua_check(L, 1);
    lua_Integer i = lua_tointeger(L, 2);
    if (t->ndim == 0) return cil_lua_raise(L, "cannot index a scalar tensor; use :item()");
    if (i < 1 || i > t->shape[0]) return cil_lua_raise(L, "index %d out of range 1..%d for %s", (int)i, t->shape[0], cil_shapestr(t));
    if (t->ndim == 1) {
      lua_pushnumber(L, t->data[i - 1]);
      return 1;
    }
    cil_tensor *r = cil_narrow(t, 0, (int)i - 1, 1);
    cil_lua_push(L, r ? cil_reshape(r, t->ndim - 1, t->shape + 1) : NULL);
    return 1;
  }
  const char *k = lua_tostring(L, 2);
  if (k && strcmp(k, "grad") == 0) {
    cil_tensor *t = cil_lua_check(L, 1);
    if (t->grad) cil_lua_push(L, t->grad);
    else lua_pushnil(L);
    return 1;
  }
  if (!testhandle(L, 1)) return cil_lua_raise(L, "tensor __index: a tensor expected, got %s", luaL_typename(L, 1));
  if (!lua_getmetatable(L, 1)) return cil_lua_raise(L, "tensor __index: the tensor has no metatable");
  if (lua_getfield(L, -1, "methods") != LUA_TTABLE)
    return cil_lua_raise(L, "tensor metatable: field 'methods' is a %s, expected the table of tensor methods",
                         luaL_typename(L, -1));
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}
static int t_newindex(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER && t->ndim == 1) {
    lua_Integer i = lua_tointeger(L, 2);
    if (i < 1 || i > t->shape[0]) return cil_lua_raise(L, "index %d out of range 1..%d", (int)i, t->shape[0]);
    if (!cil_check_inplace(t, "setindex")) return cil_lua_fail(L);
    t->data[i - 1] = (float)luaL_checknumber(L, 3);
    return 0;
  }
  const char *k = lua_tostring(L, 2);
  if (k && strcmp(k, "grad") == 0 && lua_isnil(L, 3)) {
    if (t->grad && t->persistent) cil_release(t->grad);
    t->grad = NULL;
    return 0;
  }
  return cil_lua_raise(L, "cannot set field '%s' of a tensor", k ? k : "?");
}
static int t_len(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  lua_pushinteger(L, t->ndim ? t->shape[0] : 0);
  return 1;
}

static const luaL_Reg tensor_methods[] = {
    {"shape", t_shape}, {"size", t_size}, {"dim", t_dim}, {"numel", t_numel}, {"item", t_item},
    {"totable", t_totable}, {"is_persistent", t_is_persistent}, {"requires_grad", t_requires_grad},
    {"requires_grad_", t_requires_grad_}, {"reshape", t_reshape}, {"view", t_reshape},
    {"t", t_transpose}, {"transpose", t_transpose}, {"narrow", t_narrow}, {"rows", t_rows},
    {"expand", t_expand}, {"index_select", t_index_select}, {"gather", t_gather},
    {"detach", t_detach}, {"clone", t_clone}, {"persist", t_persist}, {"copy_", t_copy_},
    {"fill_", t_fill_}, {"zero_grad", t_zero_grad}, {"add", t_add}, {"sub", t_sub}, {"mul", t_mul},
    {"div", t_div}, {"pow", t_pow}, {"minimum", t_minimum}, {"maximum", t_maximum}, {"lt", t_lt},
    {"le", t_le}, {"gt", t_gt}, {"ge", t_ge}, {"eq", t_eq}, {"ne", t_ne}, {"neg", t_neg},
    {"exp", t_exp}, {"log", t_log}, {"sqrt", t_sqrt}, {"square", t_square}, {"abs", t_abs},
    {"tanh", t_tanh}, {"atanh", t_atanh}, {"sigmoid", t_sigmoid}, {"softplus", t_softplus},
    {"relu", t_relu}, {"silu", t_silu}, {"sign", t_sign}, {"leaky_relu", t_leaky_relu},
    {"clamp", t_clamp}, {"sum", t_sum}, {"mean", t_mean}, {"max", t_max}, {"min", t_min},
    {"logsumexp", t_logsumexp}, {"argmax", t_argmax}, {"argmin", t_argmin}, {"norm", t_norm}, {"sumsq", t_sumsq},
    {"matmul", t_matmul}, {"mm", t_matmul}, {"backward", t_backward}, {NULL, NULL}};

static const luaL_Reg module_fns[] = {
    {"tensor", l_tensor}, {"zeros", l_zeros}, {"ones", l_ones}, {"full", l_full},
    {"arange", l_arange}, {"rand", l_rand}, {"randn", l_randn}, {"uniform", l_uniform},
    {"normal", l_normal}, {"randint", l_randint}, {"randperm", l_randperm}, {"rng", l_rng_new},
    {"manual_seed", l_manual_seed}, {"default_rng_copy", l_default_rng},
    {"default_rng_state", l_default_state}, {"param", l_param}, {"persistent", l_persistent},
    {"where", l_where}, {"minimum", t_minimum}, {"maximum", t_maximum}, {"linear", l_linear}, {"ensemble_linear", l_elinear}, {"mlp_forward", l_mlp_forward},
    {"cat", l_cat}, {"stack", l_stack}, {"matmul", t_matmul}, {"grad", l_grad},
    {"no_grad", l_no_grad}, {"set_grad_enabled", l_set_grad_enabled},
    {"is_grad_enabled", l_is_grad_enabled}, {"reset", l_reset}, {"arena_info", l_arena_info},
    {"set_num_threads", l_set_num_threads}, {"get_num_threads", l_get_num_threads},
    {"is_tensor", l_is_tensor}, {NULL, NULL}};

static const luaL_Reg rng_methods[] = {
    {"seed", rng_seed}, {"random", rng_random}, {"gauss", rng_gauss}, {"state", rng_state},
    {"set_state", rng_set_state}, {"rand", l_rand}, {"randn", l_randn}, {"uniform", l_uniform},
    {"normal", l_normal}, {"randint", l_randint}, {"randperm", l_randperm}, {NULL, NULL}};

void cil_open_tensor(lua_State *L) {
  static const luaL_Reg meta[] = {{"__index", t_index}, {"__newindex", t_newindex},
                                  {"__close", t_gc}, {"__tostring", t_tostring},
                                  {"__add", t_add}, {"__sub", t_sub}, {"__mul", t_mul},
                                  {"__div", t_div}, {"__pow", t_pow}, {"__unm", t_neg},
                                  {"__len", t_len}, {NULL, NULL}};
  luaL_newlib(L, tensor_methods);
  int methods = lua_gettop(L);
  for (int k = 0; k < 2; k++) {
    luaL_newmetatable(L, k ? CIL_TENSOR_ARENA_MT : CIL_TENSOR_MT);
    lua_pushvalue(L, methods);
    lua_setfield(L, -2, "methods");
    luaL_setfuncs(L, meta, 0);
    if (!k) {
      lua_pushcfunction(L, t_gc);
      lua_setfield(L, -2, "__gc");
    }
    lua_pushstring(L, "tensor");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);

  luaL_newmetatable(L, CIL_RNG_MT);
  luaL_newlib(L, rng_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  luaL_setfuncs(L, module_fns, 0);
  /* every tensor method is also a module function unless the module defines it: cil.exp(x) */
  int mod = lua_gettop(L);
  luaL_getmetatable(L, CIL_TENSOR_MT);
  lua_getfield(L, -1, "methods"); /* shared by both metatables */
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_getfield(L, mod, lua_tostring(L, -2));
    if (lua_isnil(L, -1)) {
      lua_pushvalue(L, -2);
      lua_setfield(L, mod, lua_tostring(L, -4));
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 2);
}
