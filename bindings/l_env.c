/* Lua bindings: cil.env — vectorized MuJoCo tasks (engine/sim/env.h).
 *
 *   local env = cil.env.make("hopper", {num_envs=8, seed=1, threads=2, autoreset=true})
 *   local obs = env:reset()                              -- [N, obs_dim]
 *   local obs, rew, term, trunc, info = env:step(a)      -- a: [N, act_dim] ([act_dim] when N = 1)
 *
 * Env indices are 1-based, like everything else in the Lua API. Tensors handed out are float32
 * *persistent* tensors (they survive cil.reset(), so an observation can be kept across an update);
 * the simulation itself runs in double. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "../engine/sim/env.h"
#include "lcil.h"

#define CIL_ENV_MT "cleanil.Env"

typedef struct {
  uint64_t tag;  /* CIL_TAG_ENV */
  cil_vecenv *e; /* NULL after close */
} lenv;
static lenv *check_lenv(lua_State *L, int idx) {
  return cil_lua_checkud(L, idx, sizeof(lenv), CIL_TAG_ENV, "env");
}

static cil_vecenv *check_env(lua_State *L, int idx) {
  lenv *h = check_lenv(L, idx);
  if (!h->e) cil_lua_raise(L, "env: this environment was closed");
  return h->e;
}

/* push a new persistent tensor owned by its Lua handle; returns its data */
static float *push_new(lua_State *L, int ndim, const int *shape) {
  cil_tensor *t = cil_persistent(ndim, shape);
  if (!t) cil_lua_fail(L);
  cil_lua_push(L, t); /* the handle retains it */
  cil_release(t);     /* drop our own reference */
  return t->data;
}
static void push_vec_d(lua_State *L, const double *src, int n, int stride) {
  int s[1] = {n};
  float *p = push_new(L, 1, s);
  for (int i = 0; i < n; i++) p[i] = (float)src[(int64_t)i * stride];
}
static void push_vec_u8(lua_State *L, const uint8_t *src, int n) {
  int s[1] = {n};
  float *p = push_new(L, 1, s);
  for (int i = 0; i < n; i++) p[i] = src[i] ? 1.0f : 0.0f;
}
static void push_mat_d(lua_State *L, const double *src, int rows, int cols) {
  int s[2] = {rows, cols};
  float *p = push_new(L, 2, s);
  for (int64_t i = 0; i < (int64_t)rows * cols; i++) p[i] = (float)src[i];
}

/* 1-based env index argument -> 0-based */
static int check_index(lua_State *L, cil_vecenv *e, int idx, const char *what) {
  lua_Integer i = luaL_checkinteger(L, idx);
  if (i < 1 || i > e->num_envs)
    cil_lua_raise(L, "env %s %s: env index %d out of range 1..%d", e->task->name, what, (int)i,
                  e->num_envs);
  return (int)i - 1;
}
static int opt_seed(lua_State *L, int idx, uint64_t *seed) {
  if (lua_isnoneornil(L, idx)) return 0;
  if (!lua_isinteger(L, idx)) {
    if (lua_isnumber(L, idx)) {
      double v = lua_tonumber(L, idx);
      if (v == floor(v) && fabs(v) < 9.2e18) {
        *seed = (uint64_t)(int64_t)v;
        return 1;
      }
    }
    cil_lua_raise(L, "env: seed must be an integer, got %s", luaL_typename(L, idx));
  }
  *seed = (uint64_t)lua_tointeger(L, idx);
  return 1;
}

/* ---------------------------------------------------------------- cil.env.make */

static int opt_int(lua_State *L, int t, const char *key, int def, int lo, int hi) {
  int v = def;
  if (lua_getfield(L, t, key) != LUA_TNIL) {
    if (!lua_isinteger(L, -1)) cil_lua_raise(L, "env.make: option %s must be an integer", key);
    lua_Integer x = lua_tointeger(L, -1);
    if (x < lo || x > hi) cil_lua_raise(L, "env.make: option %s = %d out of range %d..%d", key, (int)x, lo, hi);
    v = (int)x;
  }
  lua_pop(L, 1);
  return v;
}

static int l_make(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  cil_envopts o = cil_envopts_default();
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const known[] = {"num_envs", "seed", "threads", "autoreset",
                                        "max_episode_steps", "model_dir", NULL};
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      int ok = 0;
      if (lua_type(L, -2) == LUA_TSTRING)
        for (int k = 0; known[k]; k++)
          if (strcmp(lua_tostring(L, -2), known[k]) == 0) ok = 1;
      if (!ok) {
        lua_pushvalue(L, -2);
        const char *key = luaL_tolstring(L, -1, NULL);
        cil_lua_raise(L, "env.make: unknown option '%s' (known: num_envs, seed, threads, autoreset, "
                         "max_episode_steps, model_dir)", key);
      }
      lua_pop(L, 1);
    }
    o.num_envs = opt_int(L, 2, "num_envs", 1, 1, 1 << 20);
    o.threads = opt_int(L, 2, "threads", 1, 1, 256);
    o.max_episode_steps = opt_int(L, 2, "max_episode_steps", 1000, 0, 2147483647);
    lua_getfield(L, 2, "seed");
    opt_seed(L, -1, &o.seed);
    lua_pop(L, 1);
    lua_getfield(L, 2, "autoreset");
    o.autoreset = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "model_dir") != LUA_TNIL) {
      if (lua_type(L, -1) != LUA_TSTRING) cil_lua_raise(L, "env.make: option model_dir must be a string");
      o.model_dir = lua_tostring(L, -1); /* stays on the stack until make returns */
    }
  }
  lenv *h = cil_lua_newud(L, sizeof *h, 0, CIL_TAG_ENV, CIL_ENV_MT);
  h->e = cil_vecenv_make(name, &o);
  if (!h->e) return cil_lua_fail(L);
  return 1;
}

/* ---------------------------------------------------------------- methods */

static int l_reset(lua_State *L) {
  cil_vecenv *e = check_env(L, 1);
  uint64_t seed;
  int has = opt_seed(L, 2, &seed);
  if (cil_vecenv_reset(e, has ? &seed : NULL) != 0) return cil_lua_fail(L);
  push_mat_d(L, e->obs, e->num_envs, e->obs_dim);
  return 1;
}

static int l_reset_one(lua_State *L) {
  cil_vecenv *e = check_env(L, 1);
  int i = check_index(L, e, 2, "reset_one");
  uint64_t seed;
  int has = opt_seed(L, 3, &seed);
  if (cil_vecenv_reset_one(e, i, has ? &seed : NULL) != 0) return cil_lua_fail(L);
  push_vec_d(L, e->obs + (int64_t)i * e->obs_dim, e->obs_dim, 1);
  return 1;
}

static int l_step(lua_State *L) {
  cil_vecenv *e = check_env(L, 1);
  const char *nm = e->task->name;
  if (!cil_lua_is(L, 2))
    return cil_lua_raise(L, "env %s step: actions must be a tensor [%d, %d], got %s", nm,
                         e->num_envs, e->act_dim, luaL_typename(L, 2));
  cil_tensor *a = cil_lua_check(L, 2);
  int ok = (a->ndim == 2 && a->shape[0] == e->num_envs && a->shape[1] == e->act_dim) ||
           (a->ndim == 1 && e->num_envs == 1 && a->shape[0] == e->act_dim);
  if (!ok) {
    if (e->num_envs == 1)
      return cil_lua_raise(L, "env %s step: actions have shape %s, expected [1, %d] or [%d] "
                              "(num_envs x act_dim)", nm, cil_shapestr(a), e->act_dim, e->act_dim);
    return cil_lua_raise(L, "env %s step: actions have shape %s, expected [%d, %d] (num_envs x act_dim)",
                         nm, cil_shapestr(a), e->num_envs, e->act_dim);
  }
  int64_t n = (int64_t)e->num_envs * e->act_dim;
  for (int64_t k = 0; k < n; k++) {
    float v = a->data[k];
    if (!isfinite(v))
      return cil_lua_raise(L, "env %s step: action [%d, %d] of %s is %s; actions must be finite", nm,
                           (int)(k / e->act_dim) + 1, (int)(k % e->act_dim) + 1, cil_shapestr(a),
                           isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
    e->act[k] = (double)v;
  }
  if (cil_vecenv_step(e, e->act) != 0) return cil_lua_fail(L);
  int N = e->num_envs;
  push_mat_d(L, e->obs, N, e->obs_dim);
  push_vec_d(L, e->rew, N, 1);
  push_vec_u8(L, e->terminated, N);
  push_vec_u8(L, e->truncated, N);
  lua_createtable(L, 0, e->task->n_info + 1);
  for (int k = 0; k < e->task->n_info; k++) {
    push_vec_d(L, e->info + k, N, e->task->n_info);
    lua_setfield(L, -2, e->task->info_names[k]);
  }
  if (e->autoreset) {
    push_mat_d(L, e->final_obs, N, e->obs_dim);
    lua_setfield(L, -2, "final_observation");
  }
  return 5;
}

static int l_qpos(lua_State *L) {
  cil_vecenv *e = check_env(L, 1);
  int i = check_index(L, e, 2, "qpos");
  push_vec_d(L, e->data[i]->qpos, e->model->nq, 1);
  return 1;
}
static int l_qvel(lua_State *L) {
  cil_vecenv *e = check_env(L, 1);
  int i = check_index(L, e, 2, "qvel");
  push_vec_d(L, e->data[i]->qvel, e->model->nv, 1);
  return 1;
}
/* full-precision state as Lua tables of numbers: qpos, qvel */
static void push_dtable(lua_State *L, const double *v, int n) {
  lua_createtable(L, n, 0);
  for (int k = 0; k < n; k++) {
    lua_pushnumber(L, v[k]);
    lua_rawseti(L, -2, k + 1);
  }
}
static int l_state(lua_State *L) {
  cil_vecenv *e = check_env(L, 1);
  int i = check_index(L, e, 2, "state");
  push_dtable(L, e->data[i]->qpos, e->model->nq);
  push_dtable(L, e->data[i]->qvel, e->model->nv);
  return 2;
}

/* a vector argument: tensor with n elements or a Lua table of n numbers -> out (double) */
static void read_vec(lua_State *L, cil_vecenv *e, int idx, int n, const char *what, double *out) {
  if (cil_lua_is(L, idx)) {
    cil_tensor *t = cil_lua_check(L, idx);
    if (t->numel != n)
      cil_lua_raise(L, "env %s set_state: %s has shape %s, expected [%d]", e->task->name, what,
                    cil_shapestr(t), n);
    for (int k = 0; k < n; k++) out[k] = t->data[k];
  } else if (lua_istable(L, idx)) {
    int len = (int)lua_rawlen(L, idx);
    if (len != n)
      cil_lua_raise(L, "env %s set_state: %s has %d entries, expected %d", e->task->name, what, len, n);
    for (int k = 0; k < n; k++) {
      lua_rawgeti(L, idx, k + 1);
      if (!lua_isnumber(L, -1))
        cil_lua_raise(L, "env %s set_state: %s[%d] is a %s, not a number", e->task->name, what,
                      k + 1, luaL_typename(L, -1));
      out[k] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
  } else {
    cil_lua_raise(L, "env %s set_state: %s must be a tensor or a table of %d numbers, got %s",
                  e->task->name, what, n, luaL_typename(L, idx));
  }
}

static int l_set_state(lua_State *L) {
  cil_vecenv *e = check_env(L, 1);
  int i = check_index(L, e, 2, "set_state");
  double qpos[64], qvel[64];
  read_vec(L, e, 3, e->model->nq, "qpos", qpos);
  read_vec(L, e, 4, e->model->nv, "qvel", qvel);
  /* MuJoCo would silently reset a non-finite state, or one beyond its mjMAXVAL (1e10): an error instead */
  const double bound = 1e10;
  for (int k = 0; k < e->model->nq; k++)
    if (!(fabs(qpos[k]) <= bound))
      return cil_lua_raise(L, "env %s set_state: qpos[%d] is %s%g; expected a finite number within +-%g",
                           e->task->name, k + 1, isfinite(qpos[k]) ? "" : "not finite: ", qpos[k], bound);
  for (int k = 0; k < e->model->nv; k++)
    if (!(fabs(qvel[k]) <= bound))
      return cil_lua_raise(L, "env %s set_state: qvel[%d] is %s%g; expected a finite number within +-%g",
                           e->task->name, k + 1, isfinite(qvel[k]) ? "" : "not finite: ", qvel[k], bound);
  if (cil_vecenv_set_state(e, i, qpos, qvel) != 0) return cil_lua_fail(L);
  push_vec_d(L, e->obs + (int64_t)i * e->obs_dim, e->obs_dim, 1);
  return 1;
}

static int l_observation(lua_State *L) { /* current observations [N, obs_dim] */
  cil_vecenv *e = check_env(L, 1);
  push_mat_d(L, e->obs, e->num_envs, e->obs_dim);
  return 1;
}

static int l_elapsed(lua_State *L) { /* steps in the current episode of env i */
  cil_vecenv *e = check_env(L, 1);
  int i = check_index(L, e, 2, "elapsed");
  lua_pushinteger(L, (lua_Integer)e->elapsed[i]);
  return 1;
}

static int l_close(lua_State *L) {
  lenv *h = cil_lua_testud(L, 1, sizeof *h, CIL_TAG_ENV);
  if (!h) return lua_gettop(L) ? cil_lua_raise(L, "env close: an env expected, got %s", luaL_typename(L, 1)) : 0;
  cil_vecenv_free(h->e);
  h->e = NULL;
  return 0;
}

static int l_tostring(lua_State *L) {
  lenv *h = check_lenv(L, 1);
  if (!h->e) lua_pushstring(L, "Env (closed)");
  else
    lua_pushfstring(L, "Env(%s, num_envs=%d, obs_dim=%d, act_dim=%d, threads=%d%s)", h->e->task->gym_id,
                    h->e->num_envs, h->e->obs_dim, h->e->act_dim, h->e->num_threads,
                    h->e->autoreset ? ", autoreset" : "");
  return 1;
}

static int l_index(lua_State *L) {
  lenv *h = check_lenv(L, 1);
  const char *k = luaL_checkstring(L, 2);
  luaL_getmetatable(L, CIL_ENV_MT);
  if (lua_getfield(L, -1, "methods") != LUA_TTABLE)
    return cil_lua_raise(L, "env metatable: field 'methods' is a %s, expected the table of env methods",
                         luaL_typename(L, -1));
  lua_pushstring(L, k);
  if (lua_rawget(L, -2) != LUA_TNIL) return 1;
  lua_pop(L, 3);
  if (!h->e) return cil_lua_raise(L, "env: this environment was closed");
  cil_vecenv *e = h->e;
  if (!strcmp(k, "obs_dim")) lua_pushinteger(L, e->obs_dim);
  else if (!strcmp(k, "act_dim")) lua_pushinteger(L, e->act_dim);
  else if (!strcmp(k, "num_envs")) lua_pushinteger(L, e->num_envs);
  else if (!strcmp(k, "name")) lua_pushstring(L, e->task->name);
  else if (!strcmp(k, "id")) lua_pushstring(L, e->task->gym_id);
  else if (!strcmp(k, "max_episode_steps")) lua_pushinteger(L, e->max_episode_steps);
  else if (!strcmp(k, "num_threads")) lua_pushinteger(L, e->num_threads);
  else if (!strcmp(k, "autoreset")) lua_pushboolean(L, e->autoreset);
  else if (!strcmp(k, "dt")) lua_pushnumber(L, e->dt);
  else if (!strcmp(k, "nq")) lua_pushinteger(L, e->model->nq);
  else if (!strcmp(k, "nv")) lua_pushinteger(L, e->model->nv);
  else if (!strcmp(k, "frame_skip")) lua_pushinteger(L, e->task->frame_skip);
  else if (!strcmp(k, "action_low") || !strcmp(k, "action_high")) {
    int s[1] = {e->act_dim}, hi = k[7] == 'h';
    float *p = push_new(L, 1, s);
    for (int j = 0; j < e->act_dim; j++) p[j] = (float)e->model->actuator_ctrlrange[2 * j + hi];
  } else if (!strcmp(k, "info_keys")) {
    lua_createtable(L, e->task->n_info, 0);
    for (int j = 0; j < e->task->n_info; j++) {
      lua_pushstring(L, e->task->info_names[j]);
      lua_rawseti(L, -2, j + 1);
    }
  } else
    lua_pushnil(L);
  return 1;
}

/* ---------------------------------------------------------------- module functions */

static int l_normalized_score(lua_State *L) {
  const cil_task *t = cil_task_match(luaL_checkstring(L, 1));
  if (!t) return cil_lua_fail(L);
  if (cil_lua_is(L, 2)) {
    cil_tensor *r = cil_lua_check(L, 2);
    cil_tensor *o = cil_new(r->ndim, r->shape);
    if (!o) return cil_lua_fail(L);
    for (int64_t k = 0; k < r->numel; k++) o->data[k] = (float)cil_normalized_score(t, r->data[k]);
    cil_lua_push(L, o);
    return 1;
  }
  lua_pushnumber(L, cil_normalized_score(t, luaL_checknumber(L, 2)));
  return 1;
}

/* mean/std option: tensor with obs_dim elements or nil */
static const float *opt_stat(lua_State *L, int opts, const char *key, const cil_task *t) {
  if (opts == 0) return NULL;
  const float *p = NULL;
  if (lua_getfield(L, opts, key) != LUA_TNIL) {
    if (!cil_lua_is(L, -1))
      cil_lua_raise(L, "termination %s: option %s must be a tensor [%d], got %s", t->name, key,
                    t->obs_dim, luaL_typename(L, -1));
    cil_tensor *s = cil_lua_check(L, -1);
    if (s->numel != t->obs_dim)
      cil_lua_raise(L, "termination %s: %s has shape %s, expected [%d]", t->name, key,
                    cil_shapestr(s), t->obs_dim);
    p = s->data; /* the tensor stays referenced by the options table */
  }
  lua_pop(L, 1);
  return p;
}

static int l_termination(lua_State *L) {
  const cil_task *t = cil_task_match(luaL_checkstring(L, 1));
  if (!t) return cil_lua_fail(L);
  cil_tensor *x = cil_lua_check(L, 2);
  int opts = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    opts = 3;
  }
  if (x->ndim < 1 || x->shape[x->ndim - 1] != t->obs_dim)
    return cil_lua_raise(L, "termination %s: next_obs has shape %s, expected [..., %d]", t->name,
                         cil_shapestr(x), t->obs_dim);
  const float *mean = opt_stat(L, opts, "mean", t);
  const float *std = opt_stat(L, opts, "std", t);
  int quirk = 0;
  if (opts) {
    lua_getfield(L, opts, "sqrt_std_quirk");
    quirk = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  int shape[CIL_MAXDIM];
  for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
  shape[x->ndim - 1] = 1;
  cil_tensor *done = cil_new(x->ndim, shape);
  if (!done) return cil_lua_fail(L);
  if (cil_termination(t, x->data, x->numel / t->obs_dim, t->obs_dim, mean, std, quirk, done->data))
    return cil_lua_fail(L);
  cil_lua_push(L, done);
  return 1;
}

static int l_task_info(lua_State *L) { /* cil.env.spec(name) -> table of the task's constants */
  const cil_task *t = cil_task_find(luaL_checkstring(L, 1));
  if (!t) return cil_lua_fail(L);
  lua_createtable(L, 0, 12);
  lua_pushstring(L, t->name), lua_setfield(L, -2, "name");
  lua_pushstring(L, t->gym_id), lua_setfield(L, -2, "id");
  lua_pushinteger(L, t->obs_dim), lua_setfield(L, -2, "obs_dim");
  lua_pushinteger(L, t->act_dim), lua_setfield(L, -2, "act_dim");
  lua_pushinteger(L, t->frame_skip), lua_setfield(L, -2, "frame_skip");
  lua_pushnumber(L, t->forward_reward_weight), lua_setfield(L, -2, "forward_reward_weight");
  lua_pushnumber(L, t->ctrl_cost_weight), lua_setfield(L, -2, "ctrl_cost_weight");
  lua_pushnumber(L, t->healthy_reward), lua_setfield(L, -2, "healthy_reward");
  lua_pushnumber(L, t->reset_noise_scale), lua_setfield(L, -2, "reset_noise_scale");
  lua_pushnumber(L, t->ref_min_score), lua_setfield(L, -2, "ref_min_score");
  lua_pushnumber(L, t->ref_max_score), lua_setfield(L, -2, "ref_max_score");
  return 1;
}

void cil_open_env(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"reset", l_reset}, {"reset_one", l_reset_one}, {"step", l_step}, {"qpos", l_qpos},
      {"qvel", l_qvel}, {"state", l_state}, {"set_state", l_set_state},
      {"observation", l_observation}, {"elapsed", l_elapsed}, {"close", l_close}, {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__index", l_index}, {"__gc", l_close}, {"__close", l_close},
                                  {"__tostring", l_tostring}, {NULL, NULL}};
  static const luaL_Reg fns[] = {{"make", l_make}, {"normalized_score", l_normalized_score},
                                 {"termination", l_termination}, {"spec", l_task_info},
                                 {NULL, NULL}};
  luaL_newmetatable(L, CIL_ENV_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "methods");
  lua_pushstring(L, "env");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);

  luaL_newlib(L, fns);
  lua_createtable(L, 3, 0);
  const char *names[] = {"hopper", "walker2d", "halfcheetah"};
  for (int i = 0; i < 3; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "names");
  lua_setfield(L, -2, "env");
}
