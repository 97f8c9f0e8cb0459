/* Lua bindings: optimizers and parameter-list utilities (layers live in lua/cleanil/nn.lua). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../engine/core/optim.h"
#include "lcil.h"

#define CIL_ADAM_MT "cleanil.Adam"
typedef struct {
  uint64_t tag; /* CIL_TAG_ADAM */
  cil_adam *a;  /* NULL once freed */
} ladam;

/* a Lua list of persistent tensors -> C array (in the arena: valid during this call) */
static int param_list(lua_State *L, int idx, cil_tensor ***out, const char *what) {
  luaL_checktype(L, idx, LUA_TTABLE);
  int n = (int)lua_rawlen(L, idx);
  cil_tensor **ps = cil_arena_alloc((n ? n : 1) * sizeof *ps);
  if (!ps) return cil_lua_fail(L);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, idx, i + 1);
    if (!cil_lua_is(L, -1)) cil_lua_raise(L, "%s: entry %d of the parameter list is not a tensor", what, i + 1);
    ps[i] = cil_lua_check(L, -1);
    if (!ps[i]->persistent) cil_lua_raise(L, "%s: entry %d (%s) is not persistent (parameters are made with cil.param)", what, i + 1, cil_shapestr(ps[i]));
    lua_pop(L, 1);
  }
  *out = ps;
  return n;
}

static float optnum(lua_State *L, int idx, const char *key, float def) {
  lua_getfield(L, idx, key);
  float v = def;
  if (!lua_isnil(L, -1)) {
    if (!lua_isnumber(L, -1)) cil_lua_raise(L, "Adam: option %s must be a number", key);
    v = (float)lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

static int l_adam(lua_State *L) { /* Adam(params, {lr=, betas={b1,b2}, eps=, weight_decay=, decoupled=}) */
  cil_tensor **ps;
  int n = param_list(L, 1, &ps, "Adam");
  if (lua_isnoneornil(L, 2)) lua_newtable(L);
  else luaL_checktype(L, 2, LUA_TTABLE);
  int o = lua_gettop(L);
  static const char *known[] = {"lr", "betas", "eps", "weight_decay", "decoupled", NULL};
  lua_pushnil(L);
  while (lua_next(L, o)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
    int ok = 0;
    for (int i = 0; known[i]; i++) ok |= !strcmp(k, known[i]);
    if (!ok) cil_lua_raise(L, "Adam: unknown option '%s' (known: lr, betas, eps, weight_decay, decoupled)", k);
    lua_pop(L, 1);
  }
  float lr = optnum(L, o, "lr", 1e-3f), eps = optnum(L, o, "eps", 1e-8f);
  float wd = optnum(L, o, "weight_decay", 0.0f), b1 = 0.9f, b2 = 0.999f;
  lua_getfield(L, o, "betas");
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    b1 = (float)luaL_checknumber(L, -2);
    b2 = (float)luaL_checknumber(L, -1);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  lua_getfield(L, o, "decoupled");
  int dec = lua_toboolean(L, -1);
  lua_pop(L, 1);
  ladam *ud = cil_lua_newud(L, sizeof *ud, 1, CIL_TAG_ADAM, CIL_ADAM_MT);
  ud->a = cil_adam_new(ps, n, lr, b1, b2, eps, wd, dec);
  if (!ud->a) return cil_lua_fail(L);
  lua_pushvalue(L, 1); /* keep the Lua list for :params() */
  lua_setiuservalue(L, -2, 1);
  return 1;
}
static cil_adam *check_adam(lua_State *L) {
  ladam *ud = cil_lua_checkud(L, 1, sizeof *ud, CIL_TAG_ADAM, "Adam optimizer");
  if (!ud->a) cil_lua_raise(L, "Adam: optimizer was freed");
  return ud->a;
}
static int adam_gc(lua_State *L) {
  ladam *ud = cil_lua_testud(L, 1, sizeof *ud, CIL_TAG_ADAM);
  if (!ud) return 0;
  cil_adam_free(ud->a);
  ud->a = NULL;
  return 0;
}
static int adam_step(lua_State *L) {
  cil_adam *o = check_adam(L);
  for (int i = 0; i < o->n; i++)
    if (o->p[i]->grad && !isfinite(cil_sumsq(o->p[i]->grad->data, o->p[i]->numel)))
      return cil_lua_raise(L, "Adam: gradient of parameter %d (%s) is not finite; step refused", i + 1, cil_shapestr(o->p[i]));
  cil_adam_step(o);
  return 0;
}
static int adam_zero_grad(lua_State *L) {
  cil_adam *o = check_adam(L);
  cil_zero_grads(o->p, o->n);
  return 0;
}
static int adam_lr(lua_State *L) { /* lr() -> current; lr(x) sets */
  cil_adam *o = check_adam(L);
  if (!lua_isnoneornil(L, 2)) {
    double lr = luaL_checknumber(L, 2);
    if (!(lr >= 0) || !isfinite((float)lr))
      return cil_lua_raise(L, "Adam: learning rate must be a finite number >= 0, got %g", lr);
    o->lr = (float)lr;
  }
  lua_pushnumber(L, o->lr);
  return 1;
}
static int adam_params(lua_State *L) {
  check_adam(L);
  lua_getiuservalue(L, 1, 1);
  return 1;
}
static int adam_state(lua_State *L) { /* {step=, m={...}, v={...}} (persistent tensors, live) */
  cil_adam *o = check_adam(L);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, o->step);
  lua_setfield(L, -2, "step");
  for (int k = 0; k < 2; k++) {
    lua_createtable(L, o->n, 0);
    for (int i = 0; i < o->n; i++) {
      cil_lua_push(L, k ? o->v[i] : o->m[i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, k ? "v" : "m");
  }
  return 1;
}
static int adam_load_state(lua_State *L) {
  cil_adam *o = check_adam(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "step");
  if (!lua_isinteger(L, -1)) return cil_lua_raise(L, "Adam:load_state: missing integer 'step'");
  int64_t step = lua_tointeger(L, -1);
  lua_pop(L, 1);
  for (int k = 0; k < 2; k++) {
    lua_getfield(L, 2, k ? "v" : "m");
    if (!lua_istable(L, -1) || (int)lua_rawlen(L, -1) != o->n)
      return cil_lua_raise(L, "Adam:load_state: '%s' must list %d tensors", k ? "v" : "m", o->n);
    for (int i = 0; i < o->n; i++) {
      lua_rawgeti(L, -1, i + 1);
      cil_tensor *t = cil_lua_check(L, -1), *d = k ? o->v[i] : o->m[i];
      if (t->numel != d->numel)
        return cil_lua_raise(L, "Adam:load_state: %s[%d] is %s, parameter is %s", k ? "v" : "m", i + 1, cil_shapestr(t), cil_shapestr(d));
      if (t != d) memcpy(d->data, t->data, (size_t)t->numel * sizeof(float));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  o->step = step;
  return 0;
}

static int l_clip_grad_norm(lua_State *L) {
  cil_tensor **ps;
  int n = param_list(L, 1, &ps, "clip_grad_norm");
  double mx = luaL_checknumber(L, 2);
  if (!(mx > 0)) return cil_lua_raise(L, "clip_grad_norm: max norm must be > 0, got %g", mx);
  lua_pushnumber(L, cil_clip_grad_norm(ps, n, mx));
  return 1;
}
static int two_lists(lua_State *L, cil_tensor ***a, cil_tensor ***b, const char *op) {
  int na = param_list(L, 1, a, op), nb = param_list(L, 2, b, op);
  if (na != nb) cil_lua_raise(L, "%s: lists have %d and %d parameters", op, na, nb);
  return na;
}
static int l_polyak(lua_State *L) { /* polyak(target, source, tau): target = tau*target + (1-tau)*source */
  cil_tensor **a, **b;
  int n = two_lists(L, &a, &b, "polyak");
  double tau = luaL_checknumber(L, 3);
  if (!(tau >= 0 && tau <= 1)) return cil_lua_raise(L, "polyak: tau must be in [0, 1], got %g", tau);
  if (!cil_polyak(a, b, n, (float)tau)) return cil_lua_fail(L);
  return 0;
}
static int l_copy_params(lua_State *L) { /* copy_params(dst, src) */
  cil_tensor **a, **b;
  int n = two_lists(L, &a, &b, "copy_params");
  if (!cil_copy_params(a, b, n)) return cil_lua_fail(L);
  return 0;
}
static int l_zero_grads(lua_State *L) {
  cil_tensor **ps;
  int n = param_list(L, 1, &ps, "zero_grads");
  cil_zero_grads(ps, n);
  return 0;
}
static int l_set_requires_grad(lua_State *L) { /* set_requires_grad(params, bool) */
  cil_tensor **ps;
  int n = param_list(L, 1, &ps, "set_requires_grad");
  int on = lua_toboolean(L, 2);
  for (int i = 0; i < n; i++) ps[i]->requires_grad = (uint8_t)on;
  return 0;
}

void cil_open_nn(lua_State *L) {
  static const luaL_Reg adam_m[] = {{"step", adam_step}, {"zero_grad", adam_zero_grad},
                                    {"lr", adam_lr}, {"params", adam_params},
                                    {"state", adam_state}, {"load_state", adam_load_state},
                                    {NULL, NULL}};
  luaL_newmetatable(L, CIL_ADAM_MT);
  luaL_newlib(L, adam_m);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, adam_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"Adam", l_adam}, {"clip_grad_norm", l_clip_grad_norm},
                                 {"polyak", l_polyak}, {"copy_params", l_copy_params},
                                 {"zero_grads", l_zero_grads},
                                 {"set_requires_grad", l_set_requires_grad}, {NULL, NULL}};
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  lua_setfield(L, -2, "optim");
}
