/* D4RL / Minari datasets: load, validate, write, trajectories, rows, statistics. */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cil_dataset_release(cil_dataset *d) {
  cil_tensor **ts[] = {&d->observations, &d->actions, &d->rewards, &d->terminals, &d->timeouts,
                       &d->next_observations, &d->next_known};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
    cil_release(*ts[i]);
    *ts[i] = NULL;
  }
  d->n = 0;
}

/* shape of key in the file: rank must be in [minrank, maxrank]; dims[1] set to 1 for rank 1 */
static int key_shape(cil_h5r *r, const char *key, int minrank, int maxrank, int64_t *dims) {
  int numeric = 0;
  int64_t d[32] = {0};
  int nd = cil_h5r_shape(r, key, d, 32, &numeric);
  if (nd < 0) return 0;
  if (!numeric) {
    cil_seterr("%s: '%s' is not numeric (expected float, integer or bool values)", cil_h5r_path(r), key);
    return 0;
  }
  if (nd < minrank || nd > maxrank) {
    cil_seterr("%s: '%s' has %d dims; expected %s", cil_h5r_path(r), key, nd,
               maxrank == 1 ? "1" : minrank == maxrank ? "2 ([N, dim])" : "1 or 2 ([N] or [N, 1])");
    return 0;
  }
  dims[0] = d[0];
  dims[1] = nd > 1 ? d[1] : 1;
  return 1;
}

static int check_rows(cil_h5r *r, const char *key, int64_t got, int64_t n) {
  if (got != n) {
    cil_seterr("%s: '%s' has %lld rows but 'observations' has %lld", cil_h5r_path(r), key,
               (long long)got, (long long)n);
    return 0;
  }
  return 1;
}

static cil_tensor *mk(int64_t n, int cols) {
  int s[2] = {(int)n, cols};
  return cil_persistent(cols ? 2 : 1, s);
}

/* the six row-aligned columns of a dataset of n rows; 0 when an allocation failed */
static int alloc_columns(cil_dataset *d, int64_t n, int obs_dim, int act_dim) {
  d->n = n;
  d->obs_dim = obs_dim;
  d->act_dim = act_dim;
  d->observations = mk(n, obs_dim);
  d->actions = mk(n, act_dim);
  d->rewards = mk(n, 0);
  d->terminals = mk(n, 0);
  d->timeouts = mk(n, 0);
  d->next_observations = mk(n, obs_dim);
  return d->observations && d->actions && d->rewards && d->terminals && d->timeouts &&
         d->next_observations;
}

static int check_finite_key(const char *file, const char *key, const cil_tensor *t) {
  int64_t i = cil_first_nonfinite(t->data, t->numel);
  if (i < 0) return 1;
  int w = t->ndim > 1 ? t->shape[1] : 1;
  cil_seterr("%s: '%s' has a non-finite value (%g) at row %lld, column %d (pass check_finite=false "
             "to load anyway)", file, key, (double)t->data[i], (long long)(i / w) + 1, (int)(i % w) + 1);
  return 0;
}

/* terminals/timeouts: any finite value (non-zero = set); NaN or inf has no meaning as a flag */
static int check_flags(const char *file, const char *key, const float *x, int64_t n) {
  int64_t i = x ? cil_first_nonfinite(x, n) : -1;
  if (i < 0) return 1;
  cil_seterr("%s: '%s' has the value %g at row %lld; a flag must be 0 or 1 (false or true)", file, key,
             (double)x[i], (long long)i + 1);
  return 0;
}

static int check_all_finite(const char *file, const cil_dataset *d) {
  return check_finite_key(file, "observations", d->observations) &&
         check_finite_key(file, "actions", d->actions) && check_finite_key(file, "rewards", d->rewards) &&
         check_finite_key(file, "next_observations", d->next_observations);
}

int cil_d4rl_load(const char *path, int check_finite, cil_dataset *d) {
  memset(d, 0, sizeof *d);
  cil_h5r *r = cil_h5r_open(path);
  if (!r) return 0;
  int64_t so[2], sa[2], sr[2], st[2], sto[2], sn[2];
  int has_to = cil_h5r_exists(r, "timeouts"), has_next = cil_h5r_exists(r, "next_observations");
  int ok = key_shape(r, "observations", 2, 2, so) && key_shape(r, "actions", 1, 2, sa) &&
           key_shape(r, "rewards", 1, 2, sr) && key_shape(r, "terminals", 1, 2, st) &&
           (!has_to || key_shape(r, "timeouts", 1, 2, sto)) &&
           (!has_next || key_shape(r, "next_observations", 2, 2, sn));
  if (!ok) goto fail;
  int64_t n = so[0];
  ok = check_rows(r, "actions", sa[0], n) && check_rows(r, "rewards", sr[0], n) &&
       check_rows(r, "terminals", st[0], n) && (!has_to || check_rows(r, "timeouts", sto[0], n)) &&
       (!has_next || check_rows(r, "next_observations", sn[0], n));
  if (!ok) goto fail;
  if (sr[1] != 1 || st[1] != 1 || (has_to && sto[1] != 1)) {
    cil_seterr("%s: rewards, terminals and timeouts must be [N] or [N, 1]", path);
    goto fail;
  }
  if (has_next && sn[1] != so[1]) {
    cil_seterr("%s: 'next_observations' has %lld columns but 'observations' has %lld", path,
               (long long)sn[1], (long long)so[1]);
    goto fail;
  }
  if (n > 2147483647 || so[1] < 1 || sa[1] < 1 || so[1] > (1 << 20) || sa[1] > (1 << 20)) {
    cil_seterr("%s: unsupported sizes (N=%lld, obs_dim=%lld, act_dim=%lld)", path, (long long)n,
               (long long)so[1], (long long)sa[1]);
    goto fail;
  }
  if (!alloc_columns(d, n, (int)so[1], (int)sa[1])) goto fail;
  ok = cil_h5r_read_floats(r, "observations", d->observations->data, d->observations->numel) &&
       cil_h5r_read_floats(r, "actions", d->actions->data, d->actions->numel) &&
       cil_h5r_read_floats(r, "rewards", d->rewards->data, n) &&
       cil_h5r_read_floats(r, "terminals", d->terminals->data, n) &&
       (!has_to || cil_h5r_read_floats(r, "timeouts", d->timeouts->data, n)) &&
       (!has_next || cil_h5r_read_floats(r, "next_observations", d->next_observations->data,
                                         d->next_observations->numel));
  if (!ok || !check_flags(path, "terminals", d->terminals->data, n) ||
      !check_flags(path, "timeouts", d->timeouts->data, n))
    goto fail;
  for (int64_t i = 0; i < n; i++) { /* flags as exact 0/1 */
    d->terminals->data[i] = d->terminals->data[i] != 0.0f;
    d->timeouts->data[i] = d->timeouts->data[i] != 0.0f;
  }
  if (!has_to) { /* old D4RL files: D4RL's readers end an episode at its 1000th step */
    d->timeouts_inferred = 1;
    int64_t step = 0;
    for (int64_t i = 0; i < n; i++) {
      if (d->terminals->data[i] != 0.0f) { step = 0; continue; }
      if (++step == CIL_D4RL_MAX_STEPS) { d->timeouts->data[i] = 1.0f; step = 0; }
    }
  }
  if (!has_next) { /* successor = next row inside an episode; unknown at episode ends */
    d->next_known = mk(n, 0);
    if (!d->next_known) goto fail;
    int od = d->obs_dim;
    for (int64_t i = 0; i < n; i++) {
      int known = i + 1 < n && d->terminals->data[i] == 0.0f && d->timeouts->data[i] == 0.0f;
      const float *src = d->observations->data + (known ? i + 1 : i) * od;
      memcpy(d->next_observations->data + i * od, src, (size_t)od * sizeof(float));
      d->next_known->data[i] = (float)known;
    }
  }
  if (check_finite && !check_all_finite(path, d)) goto fail;
  cil_h5r_close(r);
  return 1;
fail:
  cil_h5r_close(r);
  cil_dataset_release(d);
  return 0;
}

/* ---- Minari ---- */
typedef struct {
  char *name;
  long k;
} episode_name;
static int ep_cmp(const void *a, const void *b) {
  long x = ((const episode_name *)a)->k, y = ((const episode_name *)b)->k;
  return (x > y) - (x < y);
}

int cil_minari_load(const char *path, int check_finite, cil_dataset *d) {
  memset(d, 0, sizeof *d);
  cil_h5r *r = cil_h5r_open(path);
  if (!r) return 0;
  int nn = 0, ne = 0;
  char **names = cil_h5r_list(r, "/", &nn);
  episode_name *eps = NULL;
  int64_t *lens = NULL;
  float *tmp = NULL;
  if (!names) goto fail;
  eps = calloc((size_t)nn + 1, sizeof *eps);
  lens = calloc((size_t)nn + 1, sizeof *lens);
  if (!eps || !lens) {
    cil_seterr("out of memory");
    goto fail;
  }
  for (int i = 0; i < nn; i++) {
    char *end;
    if (strncmp(names[i], "episode_", 8) != 0) continue;
    long k = strtol(names[i] + 8, &end, 10);
    if (*end || end == names[i] + 8 || !cil_h5r_is_group(r, names[i])) continue;
    eps[ne].name = names[i];
    eps[ne++].k = k;
  }
  if (ne == 0) {
    cil_seterr("%s: no 'episode_<k>' groups; not a Minari dataset", path);
    goto fail;
  }
  qsort(eps, (size_t)ne, sizeof *eps, ep_cmp);
  /* pass 1: shapes */
  int64_t n = 0, od = -1, ad = -1, maxlen = 0;
  char key[1100];
  for (int e = 0; e < ne; e++) {
    int64_t so[2], sa[2], sr[2], st[2], su[2];
#define KEY(k) (snprintf(key, sizeof key, "%s/%s", eps[e].name, k), key)
    if (cil_h5r_is_group(r, KEY("observations"))) {
      cil_seterr("%s: '%s' is a group (dictionary observations are not supported)", path, key);
      goto fail;
    }
    if (!key_shape(r, KEY("observations"), 2, 2, so) || !key_shape(r, KEY("actions"), 1, 2, sa) ||
        !key_shape(r, KEY("rewards"), 1, 2, sr) || !key_shape(r, KEY("terminations"), 1, 2, st) ||
        !key_shape(r, KEY("truncations"), 1, 2, su))
      goto fail;
    int64_t T = sa[0];
    if (so[0] != T + 1) {
      cil_seterr("%s: '%s' has %lld rows; expected %lld (one more than the %lld actions)", path,
                 KEY("observations"), (long long)so[0], (long long)T + 1, (long long)T);
      goto fail;
    }
    if (sr[0] != T || st[0] != T || su[0] != T || sr[1] != 1 || st[1] != 1 || su[1] != 1) {
      cil_seterr("%s: episode '%s': rewards, terminations and truncations must be [%lld]", path,
                 eps[e].name, (long long)T);
      goto fail;
    }
    if ((od >= 0 && so[1] != od) || (ad >= 0 && sa[1] != ad)) {
      cil_seterr("%s: episode '%s' has obs/action widths %lld/%lld, earlier episodes %lld/%lld",
                 path, eps[e].name, (long long)so[1], (long long)sa[1], (long long)od, (long long)ad);
      goto fail;
    }
    od = so[1];
    ad = sa[1];
    lens[e] = T;
    n += T;
    if (T + 1 > maxlen) maxlen = T + 1;
  }
  if (n > 2147483647 || od < 1 || ad < 1 || od > (1 << 20) || ad > (1 << 20)) {
    cil_seterr("%s: unsupported sizes (N=%lld, obs_dim=%lld, act_dim=%lld)", path, (long long)n,
               (long long)od, (long long)ad);
    goto fail;
  }
  if (!alloc_columns(d, n, (int)od, (int)ad)) goto fail;
  tmp = malloc((size_t)maxlen * (size_t)od * sizeof(float) + 64);
  if (!tmp) {
    cil_seterr("out of memory");
    goto fail;
  }
  /* pass 2: read */
  int64_t row = 0;
  for (int e = 0; e < ne; e++) {
    int64_t T = lens[e];
    if (!cil_h5r_read_floats(r, KEY("observations"), tmp, (T + 1) * od) ||
        !cil_h5r_read_floats(r, KEY("actions"), d->actions->data + row * ad, T * ad) ||
        !cil_h5r_read_floats(r, KEY("rewards"), d->rewards->data + row, T) ||
        !cil_h5r_read_floats(r, KEY("terminations"), d->terminals->data + row, T) ||
        !cil_h5r_read_floats(r, KEY("truncations"), d->timeouts->data + row, T))
      goto fail;
    if (!check_flags(path, "terminations", d->terminals->data + row, T) ||
        !check_flags(path, "truncations", d->timeouts->data + row, T))
      goto fail;
#undef KEY
    memcpy(d->observations->data + row * od, tmp, (size_t)(T * od) * sizeof(float));
    memcpy(d->next_observations->data + row * od, tmp + od, (size_t)(T * od) * sizeof(float));
    for (int64_t i = row; i < row + T; i++) {
      d->terminals->data[i] = d->terminals->data[i] != 0.0f;
      d->timeouts->data[i] = d->timeouts->data[i] != 0.0f;
    }
    if (T > 0 && d->terminals->data[row + T - 1] == 0.0f) d->timeouts->data[row + T - 1] = 1.0f;
    row += T;
  }
  if (check_finite && !check_all_finite(path, d)) goto fail;
  free(tmp);
  free(eps);
  free(lens);
  cil_h5r_free_names(names, nn);
  cil_h5r_close(r);
  return 1;
fail:
  free(tmp);
  free(eps);
  free(lens);
  cil_h5r_free_names(names, nn);
  cil_h5r_close(r);
  cil_dataset_release(d);
  return 0;
}

/* ---- validate and write ---- */
static int rows_of(const cil_tensor *t) { return t->ndim ? t->shape[0] : -1; }

int cil_dataset_validate(const cil_dataset *d, const char *what) {
  const cil_tensor *o = d->observations, *a = d->actions;
  if (!o || !a || !d->rewards || !d->terminals) {
    cil_seterr("%s: observations, actions, rewards and terminals are required", what);
    return 0;
  }
  if (o->ndim != 2 || a->ndim != 2) {
    cil_seterr("%s: observations and actions must be 2-D [N, dim], got %s and %s", what,
               cil_shapestr(o), cil_shapestr(a));
    return 0;
  }
  int n = o->shape[0];
  struct {
    const char *k;
    const cil_tensor *t;
    int flat;
  } ks[] = {{"actions", a, 0}, {"rewards", d->rewards, 1}, {"terminals", d->terminals, 1},
            {"timeouts", d->timeouts, 1}, {"next_observations", d->next_observations, 0}};
  for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
    const cil_tensor *t = ks[i].t;
    if (!t) continue;
    if (rows_of(t) != n) {
      cil_seterr("%s: '%s' has %d rows but 'observations' has %d", what, ks[i].k, rows_of(t), n);
      return 0;
    }
    if (ks[i].flat && !(t->ndim == 1 || (t->ndim == 2 && t->shape[1] == 1))) {
      cil_seterr("%s: '%s' must be [N] or [N, 1], got %s", what, ks[i].k, cil_shapestr(t));
      return 0;
    }
  }
  if (!check_flags(what, "terminals", d->terminals->data, d->terminals->numel) ||
      (d->timeouts && !check_flags(what, "timeouts", d->timeouts->data, d->timeouts->numel)))
    return 0;
  if (d->next_observations && !cil_shape_eq(d->next_observations, o)) {
    cil_seterr("%s: next_observations %s and observations %s differ in shape", what,
               cil_shapestr(d->next_observations), cil_shapestr(o));
    return 0;
  }
  return 1;
}

int cil_d4rl_write(cil_h5w *w, const cil_dataset *d, int gzip) {
  if (!cil_dataset_validate(d, "save_d4rl")) return 0;
  int64_t n = d->observations->shape[0];
  if (!cil_h5w_tensor(w, "observations", d->observations, gzip) ||
      !cil_h5w_tensor(w, "actions", d->actions, gzip) ||
      !cil_h5w_floats(w, "rewards", d->rewards->data, 1, &n, gzip, NULL) ||
      !cil_h5w_flags(w, "terminals", d->terminals->data, n, gzip))
    return 0;
  if (d->timeouts && !cil_h5w_flags(w, "timeouts", d->timeouts->data, n, gzip)) return 0;
  if (!d->timeouts) { /* D4RL readers expect timeouts: write zeros */
    float *z = calloc((size_t)n + 1, sizeof *z);
    int ok = z && cil_h5w_flags(w, "timeouts", z, n, gzip);
    free(z);
    if (!ok) return 0;
  }
  if (d->next_observations && !cil_h5w_tensor(w, "next_observations", d->next_observations, gzip))
    return 0;
  return 1;
}

/* ---- trajectories ---- */
cil_traj *cil_trajectories(const float *terminals, const float *timeouts, const float *rewards,
                           int64_t n, int64_t *count) {
  if (!check_flags("trajectories", "terminals", terminals, n) || !check_flags("trajectories", "timeouts", timeouts, n))
    return NULL;
  int64_t k = 0, cap = 64;
  cil_traj *t = malloc((size_t)cap * sizeof *t);
  if (!t) {
    cil_seterr("out of memory");
    return NULL;
  }
  int64_t start = 0;
  double ret = 0.0;
  for (int64_t i = 0; i < n; i++) {
    ret += rewards ? rewards[i] : 0.0;
    int term = terminals[i] != 0.0f, tout = timeouts && timeouts[i] != 0.0f;
    if (term || tout || i == n - 1) {
      if (k == cap) {
        cap *= 2;
        cil_traj *nt = realloc(t, (size_t)cap * sizeof *t);
        if (!nt) {
          free(t);
          cil_seterr("out of memory");
          return NULL;
        }
        t = nt;
      }
      t[k].start = start;
      t[k].len = i + 1 - start;
      t[k].terminal = term;
      t[k].timeout = tout && !term;
      t[k].complete = term || tout;
      t[k].ret = ret;
      k++;
      start = i + 1;
      ret = 0.0;
    }
  }
  *count = k;
  return t;
}

int64_t cil_pick_trajectories(const cil_traj *t, int64_t count, int64_t want, cil_pick_rule rule,
                              int64_t *chosen) {
  int64_t got = 0;
  for (int64_t e = 0; e < count && got < want; e++) {
    if (!t[e].complete) continue;
    int keep = 1;
    if (rule == CIL_PICK_REFERENCE) keep = e == 0 || !t[e - 1].terminal;
    else if (rule == CIL_PICK_NOT_TERMINATED) keep = !t[e].terminal;
    if (keep) chosen[got++] = e;
  }
  return got;
}

/* ---- rows ---- */
cil_tensor *cil_take_rows(const cil_tensor *src, const int64_t *idx, int64_t n) {
  if (src->ndim < 1) {
    cil_seterr("take_rows: a scalar has no rows");
    return NULL;
  }
  if (n > 2147483647) {
    cil_seterr("take_rows: too many rows");
    return NULL;
  }
  int shape[CIL_MAXDIM];
  memcpy(shape, src->shape, sizeof shape);
  int64_t rows = src->shape[0], w = rows ? src->numel / rows : 0;
  for (int64_t i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= rows) {
      cil_seterr("take_rows: row %lld out of range 1..%lld", (long long)idx[i] + 1, (long long)rows);
      return NULL;
    }
  shape[0] = (int)n;
  cil_tensor *t = cil_persistent(src->ndim, shape);
  if (!t) return NULL;
  for (int64_t i = 0; i < n; i++)
    memcpy(t->data + i * w, src->data + idx[i] * w, (size_t)w * sizeof(float));
  return t;
}

int64_t cil_first_nonfinite(const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return i;
  return -1;
}

int64_t cil_eval_size(int64_t n, double train_ratio, int64_t max_eval) {
  int64_t e = (int64_t)nearbyint((double)n * (1.0 - train_ratio)); /* half to even, like Python */
  if (e > max_eval) e = max_eval;
  if (e < 0) e = 0;
  if (e > n) e = n;
  return e;
}

int cil_obs_stats(cil_tensor *const *xs, int k, double eps, cil_tensor **mean, cil_tensor **std) {
  *mean = *std = NULL;
  if (k < 1) {
    cil_seterr("obs_stats: no tensors given");
    return 0;
  }
  int D = xs[0]->ndim == 2 ? xs[0]->shape[1] : -1;
  int64_t n = 0;
  for (int j = 0; j < k; j++) {
    if (xs[j]->ndim != 2 || xs[j]->shape[1] != D) {
      cil_seterr("obs_stats: expected 2-D tensors [N, %d], got %s", D, cil_shapestr(xs[j]));
      return 0;
    }
    n += xs[j]->shape[0];
  }
  if (n < 2) {
    cil_seterr("obs_stats: need at least 2 rows for an unbiased std, got %lld", (long long)n);
    return 0;
  }
  double *s = calloc((size_t)D * 2 + 1, sizeof *s), *m = s + D;
  if (!s) {
    cil_seterr("out of memory");
    return 0;
  }
  /* two passes in double: mean, then squared deviations */
  for (int j = 0; j < k; j++)
    for (int64_t i = 0; i < xs[j]->shape[0]; i++)
      for (int c = 0; c < D; c++) s[c] += xs[j]->data[i * D + c];
  for (int c = 0; c < D; c++) {
    m[c] = s[c] / (double)n;
    s[c] = 0.0;
  }
  for (int j = 0; j < k; j++)
    for (int64_t i = 0; i < xs[j]->shape[0]; i++)
      for (int c = 0; c < D; c++) {
        double dv = xs[j]->data[i * D + c] - m[c];
        s[c] += dv * dv;
      }
  *mean = cil_persistent(1, &D);
  *std = cil_persistent(1, &D);
  if (!*mean || !*std) {
    cil_release(*mean);
    cil_release(*std);
    *mean = *std = NULL;
    free(s);
    return 0;
  }
  for (int c = 0; c < D; c++) {
    (*mean)->data[c] = (float)m[c];
    (*std)->data[c] = (float)(sqrt(s[c] / (double)(n - 1)) + eps);
  }
  free(s);
  return 1;
}

cil_tensor *cil_normalize(const cil_tensor *x, const cil_tensor *mean, const cil_tensor *std, int inverse) {
  int D = x->ndim ? x->shape[x->ndim - 1] : 1;
  if (x->ndim < 1 || mean->numel != D || std->numel != D) {
    cil_seterr("normalize: x %s needs mean and std of %d values, got %s and %s", cil_shapestr(x), D,
               cil_shapestr(mean), cil_shapestr(std));
    return NULL;
  }
  cil_tensor *t = cil_persistent(x->ndim, x->shape);
  if (!t) return NULL;
  int64_t rows = D ? x->numel / D : 0;
  const float *mu = mean->data, *sd = std->data;
  for (int64_t i = 0; i < rows; i++) {
    const float *a = x->data + i * D;
    float *b = t->data + i * D;
    if (inverse)
      for (int c = 0; c < D; c++) b[c] = a[c] * sd[c] + mu[c];
    else
      for (int c = 0; c < D; c++) b[c] = (a[c] - mu[c]) / sd[c];
  }
  return t;
}
