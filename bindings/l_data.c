/* Lua bindings: datasets (D4RL / Minari HDF5), replay buffers, checkpoints.
 *   cil.data.*         load_d4rl, load_minari, save_d4rl, trajectories, pick_trajectories, take,
 *                      ranges_index, obs_stats, normalize, denormalize, eval_size, sample_mixed, buffer
 *   cil.ReplayBuffer   constructor; methods add, sample, sample_into, size, capacity, rows, clear,
 *                      save, load (+ Lua methods from lua/cleanil/data.lua)
 *   cil.checkpoint.*   save, load, load_into
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../engine/data/buffer.h"
#include "../engine/data/dataset.h"
#include "../engine/data/h5io.h"
#include "lcil.h"

#define BUF_MT "cleanil.ReplayBuffer"
#define TREE_MT "cleanil.h5tree"

typedef struct {
  uint64_t tag; /* CIL_TAG_BUFFER */
  cil_buffer *b;
} lbuffer;
static lbuffer *test_buf(lua_State *L, int idx) { return cil_lua_testud(L, idx, sizeof(lbuffer), CIL_TAG_BUFFER); }

/* Lua tables made from a file (HDF5 groups, checkpoint tables) nest at most this deep; checkpoint.save
 * refuses deeper tables too. Each level also asks the Lua stack for room first. */
#define CIL_MAX_NESTING 64

/* ================================================================ small helpers */
static int opt_bool(lua_State *L, int idx, const char *key, int def) {
  if (!lua_istable(L, idx)) return def;
  lua_getfield(L, idx, key);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}
static lua_Number opt_num(lua_State *L, int idx, const char *key, lua_Number def) {
  if (!lua_istable(L, idx)) return def;
  lua_getfield(L, idx, key);
  lua_Number v = def;
  if (lua_isboolean(L, -1)) v = lua_toboolean(L, -1) ? def : 0;
  else if (!lua_isnil(L, -1)) {
    if (!lua_isnumber(L, -1)) cil_lua_raise(L, "option '%s' must be a number", key);
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* push a persistent tensor the caller owns (one reference), handing that reference to Lua */
static void push_owned(lua_State *L, cil_tensor *t) {
  cil_lua_push(L, t);
  cil_release(t);
}

/* a live tensor at idx without raising (for walkers that must clean up first) */
static cil_tensor *test_tensor(lua_State *L, int idx, const char **why) {
  if (!cil_lua_is(L, idx)) return NULL; /* persistent and arena handles share cil_lhandle */
  cil_lhandle *h = lua_touserdata(L, idx);
  if (!h->t) *why = "a freed tensor";
  else if (h->gen && h->gen != cil_arena_gen()) *why = "a tensor freed by cil.reset()";
  else return h->t;
  return NULL;
}

/* tree holder: frees the tree when collected (so a Lua error while converting leaks nothing) */
typedef struct {
  uint64_t tag; /* CIL_TAG_TREE */
  cil_h5node *root;
} ltree;
static int tree_gc(lua_State *L) {
  ltree *t = cil_lua_testud(L, 1, sizeof *t, CIL_TAG_TREE);
  if (!t) return 0;
  cil_h5_free_tree(t->root);
  t->root = NULL;
  return 0;
}
static ltree *push_tree(lua_State *L, cil_h5node *root) {
  ltree *t = cil_lua_newud(L, sizeof *t, 0, CIL_TAG_TREE, TREE_MT);
  t->root = root;
  return t;
}

static lbuffer *check_buf(lua_State *L, int idx) {
  lbuffer *b = cil_lua_checkud(L, idx, sizeof *b, CIL_TAG_BUFFER, "replay buffer");
  if (!b->b) cil_lua_raise(L, "replay buffer was freed");
  return b;
}
static void push_buffer(lua_State *L, cil_buffer *b) {
  lbuffer *u = cil_lua_newud(L, sizeof *u, 0, CIL_TAG_BUFFER, BUF_MT);
  u->b = b;
}

/* generic tree (the infos and metadata groups) -> nested Lua table */
static void push_plain_node(lua_State *L, cil_h5node *n, const char *fn, int depth) {
  switch (n->type) {
    case CIL_H5_GROUP:
      if (depth > CIL_MAX_NESTING)
        cil_lua_raise(L, "%s: group '%s' is nested more than %d levels deep (a damaged or hostile file?)", fn,
                      n->name, CIL_MAX_NESTING);
      luaL_checkstack(L, 4, "nested HDF5 groups");
      lua_newtable(L);
      for (cil_h5node *c = n->child; c; c = c->next) {
        push_plain_node(L, c, fn, depth + 1);
        lua_setfield(L, -2, c->name);
      }
      break;
    case CIL_H5_TENSOR: cil_lua_push(L, n->tensor); break;
    case CIL_H5_INT: lua_pushinteger(L, (lua_Integer)n->i); break;
    case CIL_H5_FLOAT: lua_pushnumber(L, n->f); break;
    case CIL_H5_BOOL: lua_pushboolean(L, (int)n->i); break;
    case CIL_H5_BYTES: lua_pushlstring(L, n->bytes, n->len); break;
    default: lua_pushnil(L);
  }
}

/* ================================================================ datasets */
static void push_dataset(lua_State *L, cil_dataset *d) {
  lua_newtable(L);
  cil_tensor *ts[] = {d->observations, d->actions, d->rewards, d->terminals, d->timeouts,
                      d->next_observations, d->next_known};
  const char *ks[] = {"observations", "actions", "rewards", "terminals", "timeouts",
                      "next_observations", "next_known"};
  for (int i = 0; i < 7; i++)
    if (ts[i]) {
      cil_lua_push(L, ts[i]);
      lua_setfield(L, -2, ks[i]);
    }
  if (d->timeouts_inferred) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "timeouts_inferred");
  }
  cil_dataset_release(d);
}

/* attach group `name` of the file (if present) to the table on top */
static void attach_group(lua_State *L, const char *path, const char *name) {
  cil_h5r *r = cil_h5r_open(path);
  if (!r) return;
  int has = cil_h5r_is_group(r, name);
  cil_h5r_close(r);
  if (!has) return;
  cil_h5node *root = cil_h5_read_tree(path, name, 0);
  if (!root) cil_lua_raise(L, "load_d4rl: %s", cil_errmsg());
  ltree *t = push_tree(L, root);
  push_plain_node(L, root, "load_d4rl", 0);
  lua_setfield(L, -3, name);
  cil_h5_free_tree(t->root);
  t->root = NULL;
  lua_pop(L, 1);
}

/* load_d4rl(path, {check_finite=true, infos=true, metadata=true}) */
static int l_load_d4rl(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  cil_dataset d;
  if (!cil_d4rl_load(path, opt_bool(L, 2, "check_finite", 1), &d))
    return cil_lua_raise(L, "load_d4rl: %s", cil_errmsg());
  push_dataset(L, &d);
  if (opt_bool(L, 2, "infos", 1)) attach_group(L, path, "infos");
  if (opt_bool(L, 2, "metadata", 1)) attach_group(L, path, "metadata");
  return 1;
}

static int l_load_minari(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  cil_dataset d;
  if (!cil_minari_load(path, opt_bool(L, 2, "check_finite", 1), &d))
    return cil_lua_raise(L, "load_minari: %s", cil_errmsg());
  push_dataset(L, &d);
  return 1;
}

/* borrowed tensors of a dataset table (no references taken) */
static int get_field_tensor(lua_State *L, int idx, const char *k, cil_tensor **out, const char *fn) {
  lua_getfield(L, idx, k);
  *out = NULL;
  if (!lua_isnil(L, -1)) {
    const char *why = "not a tensor";
    *out = test_tensor(L, -1, &why);
    if (!*out) {
      lua_pop(L, 1);
      return cil_lua_raise(L, "%s: field '%s' is %s", fn, k, why);
    }
  }
  lua_pop(L, 1);
  return 1;
}

/* Writers store a table's members in the order of their names, so that the same content always makes
 * the same file (Lua's pairs order changes from run to run). sorted_keys pushes an array of the table's
 * keys (at idx) and returns their order by name: order[i].k is a key's place in that array, order[i].name
 * its name as name_of gives it. On an error (name_of's, or memory) it pops the array, sets the error and
 * returns NULL with *nk = -1. free_keys frees the order; the caller pops the array. */
typedef struct {
  char *name; /* the link name */
  int k;      /* its key's place in the key array */
} cil_keyname;
typedef int (*key_name_fn)(lua_State *L, int kidx, char *out, size_t cap);
static int keyname_cmp(const void *a, const void *b) {
  return strcmp(((const cil_keyname *)a)->name, ((const cil_keyname *)b)->name);
}
static void free_keys(cil_keyname *order, int nk) {
  for (int i = 0; i < nk; i++) free(order[i].name);
  free(order);
}
static cil_keyname *sorted_keys(lua_State *L, int idx, key_name_fn name_of, int *nk) {
  *nk = -1;
  if (!lua_checkstack(L, 6)) {
    cil_seterr("is nested too deeply");
    return NULL;
  }
  lua_newtable(L);
  int keys = lua_gettop(L), n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, ++n);
  }
  cil_keyname *order = calloc(n ? (size_t)n : 1, sizeof *order);
  if (!order) {
    lua_pop(L, 1);
    cil_seterr("ran out of memory");
    return NULL;
  }
  char name[700];
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, keys, i + 1);
    int ok = name_of(L, -1, name, sizeof name);
    lua_pop(L, 1);
    order[i].k = i + 1;
    if (ok && !(order[i].name = strdup(name))) cil_seterr("ran out of memory");
    if (!order[i].name) {
      free_keys(order, i);
      lua_pop(L, 1);
      return NULL;
    }
  }
  if (n > 1) qsort(order, (size_t)n, sizeof *order, keyname_cmp);
  *nk = n;
  return order;
}
/* save_d4rl's groups: string keys, stored as they are */
static int plain_key_name(lua_State *L, int kidx, char *out, size_t cap) {
  if (lua_type(L, kidx) != LUA_TSTRING) {
    cil_seterr("has a non-string key");
    return 0;
  }
  snprintf(out, cap, "%s", lua_tostring(L, kidx));
  return 1;
}

/* write a Lua value under path (plain mode: metadata and infos) */
static int write_plain(lua_State *L, cil_h5w *w, int idx, const char *path, int gzip, int depth) {
  idx = lua_absindex(L, idx);
  const char *why = "unsupported";
  cil_tensor *t;
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
      return lua_isinteger(L, idx) ? cil_h5w_int(w, path, lua_tointeger(L, idx), NULL)
                                   : cil_h5w_double(w, path, lua_tonumber(L, idx));
    case LUA_TBOOLEAN: return cil_h5w_bool(w, path, lua_toboolean(L, idx));
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      return cil_h5w_bytes(w, path, s, n, NULL);
    }
    case LUA_TTABLE:
      if (depth > 32) {
        cil_seterr("save_d4rl: '%s' is nested too deeply", path);
        return 0;
      }
      if (!cil_h5w_group(w, path, NULL)) return 0;
      {
        int nk;
        cil_keyname *order = sorted_keys(L, idx, plain_key_name, &nk);
        if (!order) {
          char msg[256];
          snprintf(msg, sizeof msg, "%s", cil_errmsg());
          cil_seterr("save_d4rl: group '%s' %s", path, msg);
          return 0;
        }
        int keys = lua_gettop(L), ok = 1;
        for (int i = 0; i < nk && ok; i++) {
          char sub[1024];
          snprintf(sub, sizeof sub, "%s/%s", path, order[i].name);
          lua_rawgeti(L, keys, order[i].k);
          lua_rawget(L, idx);
          ok = write_plain(L, w, -1, sub, gzip, depth + 1);
          lua_pop(L, 1);
        }
        free_keys(order, nk);
        lua_pop(L, 1); /* keys */
        return ok;
      }
    case LUA_TUSERDATA:
      if ((t = test_tensor(L, idx, &why))) return cil_h5w_tensor(w, path, t, gzip);
      /* fallthrough */
    default:
      cil_seterr("save_d4rl: cannot store %s at '%s'", lua_type(L, idx) == LUA_TUSERDATA ? why : luaL_typename(L, idx), path);
      return 0;
  }
}

/* save_d4rl(path, data, {compression=4}) */
static int l_save_d4rl(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int gzip = (int)opt_num(L, 3, "compression", 4);
  if (gzip < 0 || gzip > 9) return cil_lua_raise(L, "save_d4rl: compression must be 0..9 (gzip level)");
  cil_dataset d = {0};
  const char *fn = "save_d4rl";
  get_field_tensor(L, 2, "observations", &d.observations, fn);
  get_field_tensor(L, 2, "actions", &d.actions, fn);
  get_field_tensor(L, 2, "rewards", &d.rewards, fn);
  get_field_tensor(L, 2, "terminals", &d.terminals, fn);
  get_field_tensor(L, 2, "timeouts", &d.timeouts, fn);
  get_field_tensor(L, 2, "next_observations", &d.next_observations, fn);
  if (!cil_dataset_validate(&d, path)) return cil_lua_raise(L, "save_d4rl: %s", cil_errmsg());
  cil_h5w *w = cil_h5w_create(path, 0);
  if (!w) return cil_lua_raise(L, "save_d4rl: %s", cil_errmsg());
  int ok = cil_d4rl_write(w, &d, gzip);
  const char *groups[] = {"infos", "metadata"};
  for (int g = 0; g < 2 && ok; g++) {
    lua_getfield(L, 2, groups[g]);
    if (lua_istable(L, -1)) ok = write_plain(L, w, -1, groups[g], gzip, 0);
    else if (!lua_isnil(L, -1)) {
      cil_seterr("save_d4rl: '%s' must be a table", groups[g]);
      ok = 0;
    }
    lua_pop(L, 1);
  }
  if (!ok) {
    cil_h5w_abort(w);
    return cil_lua_raise(L, "%s", cil_errmsg());
  }
  if (!cil_h5w_commit(w)) return cil_lua_raise(L, "save_d4rl: %s", cil_errmsg());
  return 0;
}

/* flags of a dataset table or tensors: trajectories(data) or trajectories(terminals, timeouts, rewards) */
static int l_trajectories(lua_State *L) {
  cil_tensor *term, *tout = NULL, *rew = NULL;
  if (lua_istable(L, 1)) {
    get_field_tensor(L, 1, "terminals", &term, "trajectories");
    get_field_tensor(L, 1, "timeouts", &tout, "trajectories");
    get_field_tensor(L, 1, "rewards", &rew, "trajectories");
    if (!term) return cil_lua_raise(L, "trajectories: the table has no 'terminals'");
  } else {
    term = cil_lua_check(L, 1);
    tout = cil_lua_opt(L, 2);
    rew = cil_lua_opt(L, 3);
  }
  int64_t n = term->numel;
  if ((tout && tout->numel != n) || (rew && rew->numel != n))
    return cil_lua_raise(L, "trajectories: terminals %s, timeouts %s and rewards %s differ in length",
                         cil_shapestr(term), tout ? cil_shapestr(tout) : "-", rew ? cil_shapestr(rew) : "-");
  int64_t k;
  cil_traj *t = cil_trajectories(term->data, tout ? tout->data : NULL, rew ? rew->data : NULL, n, &k);
  if (!t) return cil_lua_fail(L);
  lua_createtable(L, (int)k, 0);
  for (int64_t i = 0; i < k; i++) {
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, t[i].start + 1);
    lua_setfield(L, -2, "start");
    lua_pushinteger(L, t[i].len);
    lua_setfield(L, -2, "length");
    lua_pushboolean(L, t[i].terminal);
    lua_setfield(L, -2, "terminal");
    lua_pushboolean(L, t[i].timeout);
    lua_setfield(L, -2, "timeout");
    lua_pushboolean(L, t[i].complete);
    lua_setfield(L, -2, "complete");
    lua_pushnumber(L, t[i].ret);
    lua_setfield(L, -2, "ret");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  free(t);
  return 1;
}

/* pick_trajectories(data, n, rule) -> list of trajectory tables (as trajectories() returns) */
static int l_pick_trajectories(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer want = luaL_checkinteger(L, 2);
  static const char *rules[] = {"reference", "first", "not_terminated", NULL};
  int rule = luaL_checkoption(L, 3, "reference", rules);
  if (want < 0) return cil_lua_raise(L, "pick_trajectories: n must be >= 0");
  lua_settop(L, 1);
  l_trajectories(L); /* list at 2 */
  int64_t k = (int64_t)lua_rawlen(L, 2);
  cil_traj *t = malloc(((size_t)k + 1) * sizeof *t);
  int64_t *chosen = malloc(((size_t)(want < k ? want : k) + 1) * sizeof *chosen);
  if (!t || !chosen) {
    free(t);
    free(chosen);
    return cil_lua_raise(L, "out of memory");
  }
  for (int64_t i = 0; i < k; i++) {
    lua_rawgeti(L, 2, (lua_Integer)i + 1);
    lua_getfield(L, -1, "terminal");
    t[i].terminal = lua_toboolean(L, -1);
    lua_getfield(L, -2, "complete");
    t[i].complete = lua_toboolean(L, -1);
    lua_pop(L, 3);
  }
  int64_t got = cil_pick_trajectories(t, k, want < k ? want : k, (cil_pick_rule)rule, chosen);
  lua_createtable(L, (int)got, 0);
  for (int64_t i = 0; i < got; i++) {
    lua_rawgeti(L, 2, (lua_Integer)chosen[i] + 1);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  free(t);
  free(chosen);
  return 1;
}

/* index tensor (1-D, 1-based, float) or list of 1-based integers -> 0-based int64 array */
static int64_t *get_index(lua_State *L, int idx, int64_t *n) {
  if (lua_istable(L, idx)) {
    *n = (int64_t)lua_rawlen(L, idx);
    int64_t *ix = lua_newuserdatauv(L, (size_t)(*n + 1) * sizeof *ix, 0);
    for (int64_t i = 0; i < *n; i++) {
      lua_rawgeti(L, idx, (lua_Integer)i + 1);
      int isint = 0;
      lua_Integer v = lua_tointegerx(L, -1, &isint); /* 3.0 counts as 3 */
      if (!isint) cil_lua_raise(L, "take: index %lld is not an integer", (long long)i + 1);
      if (v < -((lua_Integer)1 << 53) || v > ((lua_Integer)1 << 53)) /* v - 1 must not overflow */
        cil_lua_raise(L, "take: index %lld (entry %lld) is not a row number", (long long)v, (long long)i + 1);
      ix[i] = (int64_t)v - 1;
      lua_pop(L, 1);
    }
    return ix;
  }
  cil_tensor *t = cil_lua_check(L, idx);
  *n = t->numel;
  int64_t *ix = lua_newuserdatauv(L, (size_t)(*n + 1) * sizeof *ix, 0);
  for (int64_t i = 0; i < *n; i++) {
    double v = t->data[i];
    if (!(fabs(v) <= 9007199254740992.0)) /* NaN, +-inf, beyond 2^53: refused before the integer conversion */
      cil_lua_raise(L, "take: index %s (entry %lld) is not a row number",
                    isnan(v) ? "NaN" : lua_pushfstring(L, "%f", v), (long long)i + 1);
    if (v != floor(v)) cil_lua_raise(L, "take: index %g is not a whole number", v);
    ix[i] = (int64_t)v - 1;
  }
  return ix;
}

/* take(t, idx): persistent tensor of t's rows idx (1-based tensor or list) */
static int l_take(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  int64_t n;
  int64_t *ix = get_index(L, 2, &n);
  cil_tensor *r = cil_take_rows(t, ix, n);
  if (!r) return cil_lua_fail(L);
  push_owned(L, r);
  return 1;
}

/* ranges_index({{start=, length=}, ...}): arena 1-D tensor of the 1-based rows they cover */
static int l_ranges_index(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int64_t k = (int64_t)lua_rawlen(L, 1), total = 0;
  for (int pass = 0; pass < 2; pass++) {
    cil_tensor *out = NULL;
    if (pass == 1) {
      if (total > (1 << 24)) return cil_lua_raise(L, "ranges_index: %lld rows exceed 2^24", (long long)total);
      int s = (int)total;
      out = cil_new(1, &s);
      if (!out) return cil_lua_fail(L);
    }
    int64_t pos = 0;
    for (int64_t i = 0; i < k; i++) {
      lua_rawgeti(L, 1, (lua_Integer)i + 1);
      lua_getfield(L, -1, "start");
      lua_getfield(L, -2, "length");
      if (!lua_isinteger(L, -2) || !lua_isinteger(L, -1))
        return cil_lua_raise(L, "ranges_index: entry %lld needs integer start and length", (long long)i + 1);
      lua_Integer st = lua_tointeger(L, -2), len = lua_tointeger(L, -1);
      lua_pop(L, 3);
      const lua_Integer lim = (lua_Integer)1 << 24; /* row numbers are exact in float32 up to 2^24 */
      if (len < 0) return cil_lua_raise(L, "ranges_index: entry %lld has negative length %lld", (long long)i + 1, (long long)len);
      /* checked one entry at a time, so neither the total nor st + len can wrap */
      if (len > lim - total)
        return cil_lua_raise(L, "ranges_index: the ranges cover more than 2^24 rows (entry %lld has length %lld)",
                             (long long)i + 1, (long long)len);
      if (st < -lim || st > lim || len > lim - st + 1)
        return cil_lua_raise(L, "ranges_index: entry %lld (start %lld, length %lld) reaches beyond row 2^24",
                             (long long)i + 1, (long long)st, (long long)len);
      if (pass == 0) total += len;
      else
        for (lua_Integer j = 0; j < len; j++) out->data[pos++] = (float)(st + j);
    }
    if (pass == 1) cil_lua_push(L, out);
  }
  return 1;
}

/* mask_index(mask): arena 1-D tensor of the 1-based positions where mask != 0 */
static int l_mask_index(lua_State *L) {
  cil_tensor *m = cil_lua_check(L, 1);
  int k = 0;
  for (int64_t i = 0; i < m->numel; i++) k += m->data[i] != 0.0f;
  if (m->numel > (1 << 24)) return cil_lua_raise(L, "mask_index: more than 2^24 rows");
  cil_tensor *t = cil_new(1, &k);
  if (!t) return cil_lua_fail(L);
  int j = 0;
  for (int64_t i = 0; i < m->numel; i++)
    if (m->data[i] != 0.0f) t->data[j++] = (float)(i + 1);
  cil_lua_push(L, t);
  return 1;
}

/* obs_stats(x or {x1, x2, ...}, {eps=0}) -> mean, std (persistent [D]) */
static int l_obs_stats(lua_State *L) {
  cil_tensor *xs[64];
  int k = 0;
  if (lua_istable(L, 1)) {
    k = (int)lua_rawlen(L, 1);
    if (k > 64) return cil_lua_raise(L, "obs_stats: at most 64 tensors");
    for (int i = 0; i < k; i++) {
      lua_rawgeti(L, 1, i + 1);
      xs[i] = cil_lua_check(L, -1);
      lua_pop(L, 1);
    }
  } else {
    xs[0] = cil_lua_check(L, 1);
    k = 1;
  }
  double eps = opt_num(L, 2, "eps", 0.0);
  cil_tensor *m, *s;
  if (!cil_obs_stats(xs, k, eps, &m, &s)) return cil_lua_fail(L);
  push_owned(L, m);
  push_owned(L, s);
  return 2;
}

static int normalize_impl(lua_State *L, int inverse) {
  cil_tensor *x = cil_lua_check(L, 1), *m = cil_lua_check(L, 2), *s = cil_lua_check(L, 3);
  cil_tensor *r = cil_normalize(x, m, s, inverse);
  if (!r) return cil_lua_fail(L);
  push_owned(L, r);
  return 1;
}
static int l_normalize(lua_State *L) { return normalize_impl(L, 0); }
static int l_denormalize(lua_State *L) { return normalize_impl(L, 1); }

static int l_eval_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)cil_eval_size(luaL_checkinteger(L, 1), luaL_optnumber(L, 2, 0.9),
                                                luaL_optinteger(L, 3, 1000)));
  return 1;
}

/* first non-finite element of a tensor: nil or (row, col) 1-based */
static int l_find_nonfinite(lua_State *L) {
  cil_tensor *t = cil_lua_check(L, 1);
  int64_t i = cil_first_nonfinite(t->data, t->numel);
  if (i < 0) return 0;
  int64_t w = t->ndim > 1 ? t->numel / t->shape[0] : 1;
  lua_pushinteger(L, i / w + 1);
  lua_pushinteger(L, i % w + 1);
  return 2;
}

/* ================================================================ replay buffer */
static int l_buffer_new(lua_State *L) {
  lua_Integer cap = luaL_checkinteger(L, 1), od = luaL_checkinteger(L, 2), ad = luaL_checkinteger(L, 3);
  if (od < 1 || ad < 1 || od > (1 << 20) || ad > (1 << 20))
    return cil_lua_raise(L, "ReplayBuffer: obs_dim and act_dim must be positive, got %d and %d", (int)od, (int)ad);
  cil_buffer *b = cil_buffer_new(cap, (int)od, (int)ad);
  if (!b) return cil_lua_fail(L);
  push_buffer(L, b);
  return 1;
}

static int buf_gc(lua_State *L) {
  lbuffer *b = test_buf(L, 1);
  if (!b) return 0;
  cil_buffer_free(b->b);
  b->b = NULL;
  return 0;
}

/* rows of a column argument: tensor [N, w] / [w] (one row when allow_row), number, boolean, nil */
static const float *column(lua_State *L, int idx, int64_t w, int64_t *n, const char *name, int allow_row,
                           float *scratch) {
  if (lua_isnoneornil(L, idx)) return NULL;
  if (lua_isnumber(L, idx) || lua_isboolean(L, idx)) { /* one value for every row */
    if (w != 1) cil_lua_raise(L, "ReplayBuffer:add: %s must be a tensor", name);
    float v = lua_isboolean(L, idx) ? (float)lua_toboolean(L, idx) : (float)lua_tonumber(L, idx);
    if (*n < 0) *n = 1;
    float *p = scratch;
    if (*n > 1) p = lua_newuserdatauv(L, (size_t)*n * sizeof(float), 0); /* collected later */
    for (int64_t i = 0; i < *n; i++) p[i] = v;
    return p;
  }
  cil_tensor *t = cil_lua_check(L, idx);
  int64_t rows;
  if (w == 1) rows = t->numel; /* rew/done: [N], [N, 1] or a scalar tensor */
  else if (t->ndim == 1 && allow_row) rows = 1;
  else rows = t->ndim >= 1 ? t->shape[0] : -1;
  if (rows < 0 || t->numel != rows * w)
    cil_lua_raise(L, "ReplayBuffer:add: %s has shape %s; the buffer expects [N, %d]%s", name,
                  cil_shapestr(t), (int)w, allow_row ? " or one row" : "");
  if (*n >= 0 && rows != *n)
    cil_lua_raise(L, "ReplayBuffer:add: %s has %lld rows but obs has %lld", name, (long long)rows, (long long)*n);
  *n = rows;
  return t->data;
}

/* buf:add(obs, act, rew, next_obs, done) */
static int buf_add(lua_State *L) {
  cil_buffer *b = check_buf(L, 1)->b;
  int64_t n = -1;
  float s_obs, s_act, s_rew, s_nxt, s_done;
  const float *obs = column(L, 2, b->obs_dim, &n, "obs", 1, &s_obs);
  if (!obs) return cil_lua_raise(L, "ReplayBuffer:add: obs is required");
  const float *act = column(L, 3, b->act_dim, &n, "act", 1, &s_act);
  const float *rew = column(L, 4, 1, &n, "rew", 0, &s_rew);
  const float *nxt = column(L, 5, b->obs_dim, &n, "next_obs", 1, &s_nxt);
  const float *done = column(L, 6, 1, &n, "done", 0, &s_done);
  if (!act || !nxt) return cil_lua_raise(L, "ReplayBuffer:add: act and next_obs are required");
  if (!cil_buffer_add(b, n, obs, act, rew, nxt, done)) return cil_lua_fail(L);
  lua_settop(L, 1);
  return 1;
}

static const char *cols[CIL_B_NCOLS] = {"obs", "act", "rew", "next_obs", "done"};
static void push_batch(lua_State *L, cil_tensor *out[CIL_B_NCOLS]) {
  lua_createtable(L, 0, CIL_B_NCOLS);
  for (int c = 0; c < CIL_B_NCOLS; c++) {
    cil_lua_push(L, out[c]);
    lua_setfield(L, -2, cols[c]);
  }
}

/* buf:sample(n, [rng]) -> {obs, act, rew [n,1], next_obs, done [n,1]} (arena tensors) */
static int buf_sample(lua_State *L) {
  cil_buffer *b = check_buf(L, 1)->b;
  lua_Integer n = luaL_checkinteger(L, 2);
  if (n < 0 || n > (1 << 30)) return cil_lua_raise(L, "ReplayBuffer:sample: bad batch size %d", (int)n);
  cil_tensor *out[CIL_B_NCOLS];
  if (!cil_buffer_sample(b, cil_lua_rng_opt(L, 3), (int)n, out)) return cil_lua_fail(L);
  push_batch(L, out);
  return 1;
}

/* buf:sample_into(batch, [rng]): fills batch.obs/act/rew/next_obs/done (same row count) in place */
static int buf_sample_into(lua_State *L) {
  cil_buffer *b = check_buf(L, 1)->b;
  luaL_checktype(L, 2, LUA_TTABLE);
  float *p[CIL_B_NCOLS];
  int64_t n = -1;
  int w[CIL_B_NCOLS] = {b->obs_dim, b->act_dim, 1, b->obs_dim, 1};
  for (int c = 0; c < CIL_B_NCOLS; c++) {
    lua_getfield(L, 2, cols[c]);
    cil_tensor *t = cil_lua_check(L, -1);
    int64_t rows = t->ndim ? t->shape[0] : 1;
    if (t->numel != rows * w[c] || (n >= 0 && rows != n))
      return cil_lua_raise(L, "ReplayBuffer:sample_into: '%s' is %s; expected [%lld, %d]", cols[c],
                           cil_shapestr(t), (long long)(n >= 0 ? n : rows), w[c]);
    if (!cil_check_inplace(t, "sample_into")) return cil_lua_fail(L);
    n = rows;
    p[c] = t->data;
    lua_pop(L, 1);
  }
  if (!cil_buffer_sample_into(b, cil_lua_rng_opt(L, 3), n, p, 0)) return cil_lua_fail(L);
  lua_settop(L, 2);
  return 1;
}

/* sample_mixed(a, b, n, ratio, [rng]): floor(n*ratio) rows from a, the rest from b */
static int l_sample_mixed(lua_State *L) {
  cil_buffer *a = check_buf(L, 1)->b, *b = check_buf(L, 2)->b;
  lua_Integer n = luaL_checkinteger(L, 3);
  double ratio = luaL_checknumber(L, 4);
  if (n < 0 || n > (1 << 30)) return cil_lua_raise(L, "sample_mixed: bad batch size %d", (int)n);
  cil_tensor *out[CIL_B_NCOLS];
  if (!cil_buffer_sample_mixed(a, b, cil_lua_rng_opt(L, 5), (int)n, ratio, out)) return cil_lua_fail(L);
  push_batch(L, out);
  return 1;
}

/* buf:rows(i, n): storage rows i..i+n-1 (1-based) as arena tensors */
static int buf_rows(lua_State *L) {
  cil_buffer *b = check_buf(L, 1)->b;
  lua_Integer i = luaL_optinteger(L, 2, 1);
  /* i is checked before i - 1 or size - i + 1 is formed (no overflow at the integer limits) */
  if (i < 1 || i > b->size + 1)
    return cil_lua_raise(L, "ReplayBuffer:rows: first row %lld out of range 1..%lld", (long long)i,
                         (long long)b->size + 1);
  lua_Integer n = luaL_optinteger(L, 3, b->size - i + 1);
  if (n < 0 || n > b->size - (i - 1))
    return cil_lua_raise(L, "ReplayBuffer:rows: %lld rows from row %lld run past the %lld stored rows", (long long)n,
                         (long long)i, (long long)b->size);
  cil_tensor *out[CIL_B_NCOLS];
  if (!cil_buffer_rows(b, i - 1, (int)n, out)) return cil_lua_fail(L);
  push_batch(L, out);
  return 1;
}

static int buf_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_buf(L, 1)->b->size);
  return 1;
}
static int buf_capacity(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_buf(L, 1)->b->capacity);
  return 1;
}
static int buf_dims(lua_State *L) {
  cil_buffer *b = check_buf(L, 1)->b;
  lua_pushinteger(L, b->obs_dim);
  lua_pushinteger(L, b->act_dim);
  return 2;
}
static int buf_pos(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_buf(L, 1)->b->pos + 1);
  return 1;
}
static int buf_clear(lua_State *L) {
  cil_buffer_clear(check_buf(L, 1)->b);
  return 0;
}
static int buf_save(lua_State *L) {
  cil_buffer *b = check_buf(L, 1)->b;
  if (!cil_buffer_save(b, luaL_checkstring(L, 2))) return cil_lua_raise(L, "ReplayBuffer:save: %s", cil_errmsg());
  return 0;
}
/* buf:load(path): replace the content (same dims and capacity required) */
static int buf_load(lua_State *L) {
  lbuffer *u = check_buf(L, 1);
  const char *path = luaL_checkstring(L, 2);
  cil_buffer *nb = cil_buffer_load(path);
  if (!nb) return cil_lua_raise(L, "ReplayBuffer:load: %s", cil_errmsg());
  int ok = cil_buffer_copy(u->b, nb);
  cil_buffer_free(nb);
  if (!ok) return cil_lua_raise(L, "ReplayBuffer:load: %s: %s", path, cil_errmsg());
  lua_settop(L, 1);
  return 1;
}
static int l_buffer_load(lua_State *L) { /* cil.data.load_buffer(path) -> new buffer */
  const char *path = luaL_checkstring(L, 1);
  cil_buffer *nb = cil_buffer_load(path);
  if (!nb) return cil_lua_raise(L, "load_buffer: %s", cil_errmsg());
  push_buffer(L, nb);
  return 1;
}
static int buf_tostring(lua_State *L) {
  lbuffer *u = cil_lua_checkud(L, 1, sizeof *u, CIL_TAG_BUFFER, "replay buffer");
  if (!u->b) lua_pushliteral(L, "ReplayBuffer(freed)");
  else
    lua_pushfstring(L, "ReplayBuffer(%d/%d rows, obs %d, act %d)", (int)u->b->size, (int)u->b->capacity,
                    u->b->obs_dim, u->b->act_dim);
  return 1;
}

/* ================================================================ checkpoints */
/* link names: string keys percent-encode '/', '%', '#' and a lone "."; integer keys are "#<n>" */
static int encode_key(lua_State *L, int kidx, char *out, size_t cap, char *dotted, size_t dcap) {
  if (lua_type(L, kidx) == LUA_TNUMBER) {
    if (!lua_isinteger(L, kidx)) {
      lua_Number v = lua_tonumber(L, kidx);
      if (v != floor(v) || fabs(v) > 9.0e15) {
        cil_seterr("key %g is not an integer or a string", v);
        return 0;
      }
    }
    long long v = (long long)lua_tonumber(L, kidx);
    snprintf(out, cap, "#%lld", v);
    snprintf(dotted, dcap, "[%lld]", v);
    return 1;
  }
  if (lua_type(L, kidx) != LUA_TSTRING) {
    cil_seterr("a table key is a %s (only strings and integers can be stored)", luaL_typename(L, kidx));
    return 0;
  }
  size_t n;
  const char *s = lua_tolstring(L, kidx, &n);
  if (n == 0 || n > 200 || strlen(s) != n) {
    cil_seterr("key '%s' is empty, too long or has a zero byte", s);
    return 0;
  }
  size_t j = 0;
  for (size_t i = 0; i < n && j + 4 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '/' || c == '%' || c == '#' || (c == '.' && n == 1)) j += (size_t)snprintf(out + j, cap - j, "%%%02X", c);
    else out[j++] = (char)c;
  }
  out[j] = 0;
  snprintf(dotted, dcap, "%s", s);
  return 1;
}
/* a checkpoint's keys: integers and strings, encoded as link names */
static int ck_key_name(lua_State *L, int kidx, char *out, size_t cap) {
  char dotted[256];
  return encode_key(L, kidx, out, cap, dotted, sizeof dotted);
}
/* push the Lua key for a link name */
static void decode_key(lua_State *L, const char *name) {
  if (name[0] == '#') {
    lua_pushinteger(L, (lua_Integer)strtoll(name + 1, NULL, 10));
    return;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (const char *p = name; *p; p++) {
    if (*p == '%' && p[1] && p[2]) {
      char hex[3] = {p[1], p[2], 0};
      luaL_addchar(&b, (char)strtol(hex, NULL, 16));
      p += 2;
    } else {
      luaL_addchar(&b, *p);
    }
  }
  luaL_pushresult(&b);
}

/* write the value at idx under h5 path; lpath = dotted Lua path for messages. No Lua errors. */
static int ck_write(lua_State *L, cil_h5w *w, int idx, const char *path, const char *lpath, int depth) {
  idx = lua_absindex(L, idx);
  const char *why = "unsupported userdata";
  cil_tensor *t;
  void *u;
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
      return lua_isinteger(L, idx) ? cil_h5w_int(w, path, lua_tointeger(L, idx), "int")
                                   : cil_h5w_double(w, path, lua_tonumber(L, idx));
    case LUA_TBOOLEAN: return cil_h5w_bool(w, path, lua_toboolean(L, idx));
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      return cil_h5w_bytes(w, path, s, n, "string");
    }
    case LUA_TTABLE: {
      if (depth > CIL_MAX_NESTING || !lua_checkstack(L, 8)) {
        cil_seterr("checkpoint: '%s' is nested more than 64 levels (a cycle?)", lpath);
        return 0;
      }
      if (depth > 0 && !cil_h5w_group(w, path, "table")) return 0;
      int nk;
      cil_keyname *order = sorted_keys(L, idx, ck_key_name, &nk);
      if (!order) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cil_errmsg());
        cil_seterr("checkpoint: in '%s': %s", depth ? lpath : "(root)", msg);
        return 0;
      }
      int keys = lua_gettop(L), ok = 1;
      char name[700], dotted[256], sub[2048], lsub[2048];
      for (int i = 0; i < nk && ok; i++) {
        lua_rawgeti(L, keys, order[i].k);
        encode_key(L, -1, name, sizeof name, dotted, sizeof dotted);
        lua_rawget(L, idx);
        if (depth == 0) snprintf(sub, sizeof sub, "%s", name);
        else snprintf(sub, sizeof sub, "%s/%s", path, name);
        if (depth == 0) snprintf(lsub, sizeof lsub, "%s", dotted);
        else snprintf(lsub, sizeof lsub, dotted[0] == '[' ? "%s%s" : "%s.%s", lpath, dotted);
        if (strlen(sub) > 1800) {
          cil_seterr("checkpoint: path '%s' is too long", lsub);
          ok = 0;
        } else if (!ck_write(L, w, -1, sub, lsub, depth + 1)) {
          ok = 0;
        }
        lua_pop(L, 1);
      }
      free_keys(order, nk);
      lua_pop(L, 1); /* keys */
      return ok;
    }
    case LUA_TUSERDATA:
      if ((t = test_tensor(L, idx, &why))) return cil_h5w_tensor(w, path, t, 0);
      if ((u = test_buf(L, idx))) {
        if (!((lbuffer *)u)->b) {
          cil_seterr("checkpoint: '%s' is a freed replay buffer", lpath);
          return 0;
        }
        return cil_h5w_buffer(w, path, ((lbuffer *)u)->b);
      }
      if ((u = cil_lua_testrng(L, idx))) return cil_h5w_bytes(w, path, u, sizeof(cil_rng), "generator");
      /* fallthrough */
    default:
      cil_seterr("checkpoint: cannot store %s at '%s'",
                 lua_type(L, idx) == LUA_TUSERDATA ? why : luaL_typename(L, idx), lpath);
      return 0;
  }
}

/* checkpoint.save(path, state) */
static int l_ck_save(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  cil_h5w *w = cil_h5w_create(path, 1);
  if (!w) return cil_lua_raise(L, "checkpoint.save: %s", cil_errmsg());
  if (!ck_write(L, w, 2, "/", "", 0)) {
    cil_h5w_abort(w);
    return cil_lua_raise(L, "%s (%s not written)", cil_errmsg(), path);
  }
  if (!cil_h5w_commit(w)) return cil_lua_raise(L, "checkpoint.save: %s", cil_errmsg());
  return 0;
}

/* node -> Lua value; buffers are taken out of the tree */
static void ck_push(lua_State *L, cil_h5node *n, int depth) {
  switch (n->type) {
    case CIL_H5_GROUP:
      if (depth > CIL_MAX_NESTING)
        cil_lua_raise(L, "checkpoint.load: table '%s' is nested more than %d levels deep (checkpoint.save "
                         "writes at most %d; a damaged or hostile file?)", n->name, CIL_MAX_NESTING, CIL_MAX_NESTING);
      luaL_checkstack(L, 6, "nested checkpoint tables");
      lua_newtable(L);
      for (cil_h5node *c = n->child; c; c = c->next) {
        decode_key(L, c->name);
        ck_push(L, c, depth + 1);
        lua_settable(L, -3);
      }
      break;
    case CIL_H5_TENSOR:
      n->tensor->requires_grad = (uint8_t)n->requires_grad;
      cil_lua_push(L, n->tensor);
      break;
    case CIL_H5_INT: lua_pushinteger(L, (lua_Integer)n->i); break;
    case CIL_H5_FLOAT: lua_pushnumber(L, n->f); break;
    case CIL_H5_BOOL: lua_pushboolean(L, (int)n->i); break;
    case CIL_H5_BYTES:
      if (!strcmp(n->kind, "generator") && n->len == sizeof(cil_rng)) {
        cil_rng *r = cil_lua_pushrng(L);
        memcpy(r, n->bytes, sizeof *r);
      } else {
        lua_pushlstring(L, n->bytes, n->len);
      }
      break;
    case CIL_H5_BUFFER:
      push_buffer(L, n->buffer);
      n->buffer = NULL;
      break;
  }
}

static cil_h5node *ck_read(lua_State *L, const char *path, const char *fn) {
  cil_h5node *root = cil_h5_read_tree(path, "/", 1);
  if (!root) cil_lua_raise(L, "%s: %s", fn, cil_errmsg());
  return root;
}

static int l_ck_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  ltree *t = push_tree(L, ck_read(L, path, "checkpoint.load"));
  ck_push(L, t->root, 0);
  cil_h5_free_tree(t->root);
  t->root = NULL;
  return 1;
}

static const char *node_what(const cil_h5node *n) {
  switch (n->type) {
    case CIL_H5_GROUP: return "a table";
    case CIL_H5_TENSOR: return "a tensor";
    case CIL_H5_INT: case CIL_H5_FLOAT: return "a number";
    case CIL_H5_BOOL: return "a boolean";
    case CIL_H5_BYTES: return !strcmp(n->kind, "generator") ? "a generator" : "a string";
    case CIL_H5_BUFFER: return "a replay buffer";
  }
  return "?";
}

/* check (apply=0) or copy (apply=1) checkpoint group g into the Lua table at idx */
static void ck_into(lua_State *L, const char *file, const cil_h5node *g, int idx, const char *lpath, int apply, int depth) {
  idx = lua_absindex(L, idx);
  if (depth > CIL_MAX_NESTING) cil_lua_raise(L, "checkpoint.load_into: '%s' is nested more than %d levels", lpath, CIL_MAX_NESTING);
  luaL_checkstack(L, 8, NULL);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    char name[700], dotted[256], lsub[2048];
    if (!encode_key(L, -2, name, sizeof name, dotted, sizeof dotted))
      cil_lua_raise(L, "checkpoint.load_into: %s", cil_errmsg());
    if (!lpath[0]) snprintf(lsub, sizeof lsub, "%s", dotted);
    else snprintf(lsub, sizeof lsub, dotted[0] == '[' ? "%s%s" : "%s.%s", lpath, dotted);
    const cil_h5node *n = cil_h5_find(g, name);
    if (!n) cil_lua_raise(L, "checkpoint.load_into: %s has no entry '%s'", file, lsub);
    const char *why = "x";
    cil_tensor *t;
    void *u;
    int vt = lua_type(L, -1);
    if (vt == LUA_TTABLE) {
      if (n->type != CIL_H5_GROUP) cil_lua_raise(L, "checkpoint.load_into: %s: '%s' is %s in the file, a table in the state", file, lsub, node_what(n));
      ck_into(L, file, n, -1, lsub, apply, depth + 1);
    } else if ((t = test_tensor(L, -1, &why)) || cil_lua_is(L, -1)) {
      if (!t) cil_lua_raise(L, "checkpoint.load_into: '%s' in the state is %s", lsub, why);
      if (n->type != CIL_H5_TENSOR) cil_lua_raise(L, "checkpoint.load_into: %s: '%s' is %s in the file, a tensor in the state", file, lsub, node_what(n));
      if (!cil_shape_eq(t, n->tensor))
        cil_lua_raise(L, "checkpoint.load_into: %s: shape mismatch at '%s': file %s, state %s", file, lsub,
                      cil_shapestr(n->tensor), cil_shapestr(t));
      if (!t->persistent) cil_lua_raise(L, "checkpoint.load_into: '%s' in the state is not a persistent tensor", lsub);
      if (apply && t->numel) memcpy(t->data, n->tensor->data, (size_t)t->numel * sizeof(float));
    } else if ((u = test_buf(L, -1))) {
      cil_buffer *b = ((lbuffer *)u)->b;
      if (n->type != CIL_H5_BUFFER) cil_lua_raise(L, "checkpoint.load_into: %s: '%s' is %s in the file, a replay buffer in the state", file, lsub, node_what(n));
      if (!b || b->capacity != n->buffer->capacity || b->obs_dim != n->buffer->obs_dim || b->act_dim != n->buffer->act_dim)
        cil_lua_raise(L, "checkpoint.load_into: %s: replay buffer '%s' has capacity %d (obs %d, act %d) in the file, %d (obs %d, act %d) in the state",
                      file, lsub, (int)n->buffer->capacity, n->buffer->obs_dim, n->buffer->act_dim,
                      b ? (int)b->capacity : 0, b ? b->obs_dim : 0, b ? b->act_dim : 0);
      if (apply) cil_buffer_copy(b, n->buffer);
    } else if ((u = cil_lua_testrng(L, -1))) {
      if (n->type != CIL_H5_BYTES || strcmp(n->kind, "generator") || n->len != sizeof(cil_rng))
        cil_lua_raise(L, "checkpoint.load_into: %s: '%s' is %s in the file, a generator in the state", file, lsub, node_what(n));
      if (apply) memcpy(u, n->bytes, sizeof(cil_rng));
    } else if (vt == LUA_TNUMBER || vt == LUA_TSTRING || vt == LUA_TBOOLEAN) {
      int match = (vt == LUA_TNUMBER && (n->type == CIL_H5_INT || n->type == CIL_H5_FLOAT)) ||
                  (vt == LUA_TBOOLEAN && n->type == CIL_H5_BOOL) ||
                  (vt == LUA_TSTRING && n->type == CIL_H5_BYTES && strcmp(n->kind, "generator"));
      if (!match) cil_lua_raise(L, "checkpoint.load_into: %s: '%s' is %s in the file, a %s in the state", file, lsub, node_what(n), lua_typename(L, vt));
      if (apply) { /* plain values are replaced in the table */
        lua_pushvalue(L, -2);
        ck_push(L, (cil_h5node *)n, depth + 1);
        lua_rawset(L, idx); /* assigning an existing field during traversal is allowed */
      }
    } else {
      cil_lua_raise(L, "checkpoint.load_into: '%s' in the state is a %s, which checkpoints do not hold", lsub, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  }
}

/* checkpoint.load_into(path, state): all-or-nothing copy into existing tensors/buffers/generators */
static int l_ck_load_into(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  ltree *t = push_tree(L, ck_read(L, path, "checkpoint.load_into"));
  ck_into(L, path, t->root, 2, "", 0, 0); /* validate everything first */
  ck_into(L, path, t->root, 2, "", 1, 0);
  cil_h5_free_tree(t->root);
  t->root = NULL;
  lua_settop(L, 2);
  return 1;
}

/* ================================================================ registration */
static const luaL_Reg data_fns[] = {
    {"load_d4rl", l_load_d4rl}, {"load_minari", l_load_minari}, {"save_d4rl", l_save_d4rl},
    {"trajectories", l_trajectories}, {"pick_trajectories", l_pick_trajectories}, {"take", l_take},
    {"ranges_index", l_ranges_index}, {"mask_index", l_mask_index}, {"obs_stats", l_obs_stats}, {"normalize", l_normalize},
    {"denormalize", l_denormalize}, {"eval_size", l_eval_size}, {"find_nonfinite", l_find_nonfinite},
    {"sample_mixed", l_sample_mixed}, {"buffer", l_buffer_new}, {"load_buffer", l_buffer_load},
    {NULL, NULL}};

static const luaL_Reg buf_methods[] = {
    {"add", buf_add}, {"sample", buf_sample}, {"sample_into", buf_sample_into}, {"rows", buf_rows},
    {"size", buf_size}, {"capacity", buf_capacity}, {"dims", buf_dims}, {"pos", buf_pos},
    {"clear", buf_clear}, {"save", buf_save}, {"load", buf_load}, {NULL, NULL}};

/* checkpoint.reseal(path): recompute a checkpoint's checksums in place (tests of damaged files) */
static int l_ck_reseal(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (!cil_h5_reseal(path)) return cil_lua_raise(L, "checkpoint.reseal: %s", cil_errmsg());
  return 0;
}

static const luaL_Reg ck_fns[] = {
    {"reseal", l_ck_reseal},
    {"save", l_ck_save}, {"load", l_ck_load}, {"load_into", l_ck_load_into}, {NULL, NULL}};

void cil_open_data(lua_State *L) {
  luaL_newmetatable(L, TREE_MT);
  lua_pushcfunction(L, tree_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  luaL_newmetatable(L, BUF_MT);
  luaL_newlib(L, buf_methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  lua_pushcfunction(L, buf_gc);
  lua_setfield(L, -3, "__gc");
  lua_pushcfunction(L, buf_gc);
  lua_setfield(L, -3, "__close");
  lua_pushcfunction(L, buf_size);
  lua_setfield(L, -3, "__len");
  lua_pushcfunction(L, buf_tostring);
  lua_setfield(L, -3, "__tostring");
  lua_pushliteral(L, "ReplayBuffer");
  lua_setfield(L, -3, "__name");
  /* methods table on top: also reachable as cil.data.buffer_methods so Lua can add methods */
  luaL_newlib(L, data_fns);
  lua_insert(L, -2);
  lua_setfield(L, -2, "buffer_methods");
  lua_setfield(L, -3, "data");
  lua_pop(L, 1); /* metatable */

  lua_pushcfunction(L, l_buffer_new);
  lua_setfield(L, -2, "ReplayBuffer");
  luaL_newlib(L, ck_fns);
  lua_setfield(L, -2, "checkpoint");
}
