/* Trained policies from C (cleanil/policy.h): load the tanh-Gaussian actor of a policy file and act
 * with it, computing exactly what lua/cleanil/actor.lua computes through the engine's ops -- the same
 * GEMM (cil_sgemm_bias_serial: our AVX-512 kernel, or OpenBLAS for the thin head) and activation
 * kernels (cil_unary_kernel), the same op order, one rounding per op -- on preallocated scratch, on
 * the calling thread, with no graph arena and no global state. */
/* no fused multiply-add: each op rounds once, as the engine's separate elementwise ops do */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "policy.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../core/internal.h"
#include "../core/rng.h"
#include "../data/h5io.h"

_Static_assert(sizeof(cil_policy_rng) == sizeof(cil_rng), "cil_policy_rng must mirror cil_rng");

#define MAX_LAYERS 64
#define MAX_WIDTH (1 << 20)
#define MAX_BATCH (1 << 24)

struct cil_policy {
  int obs_dim, act_dim, nlayers, width, max_batch, activation;
  int in[MAX_LAYERS], out[MAX_LAYERS]; /* layer l: [out, in] weight */
  const float *w[MAX_LAYERS], *b[MAX_LAYERS];
  const float *wt[MAX_LAYERS];         /* W^T [in, out] where our GEMM takes the layer (else NULL) */
  float *params;                       /* every weight and bias (and W^T), one block */
  float *mean, *std;                   /* [obs_dim], NULL when the file has no statistics */
  float *scratch;                      /* one block: x, h0, h1, xi */
  float *x, *h0, *h1, *xi;             /* x [B, obs], h0/h1 [B, width], xi [B, act] */
  float mu_lo, mu_hi, ls_scale, ls_shift;
};

/* ------------------------------------------------------------------ errors */
static _Thread_local char g_msg[768];
static int fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  return code;
}
const char *cil_policy_errmsg(void) { return g_msg[0] ? g_msg : "no error"; }
const char *cil_policy_strerror(int code) {
  switch (code) {
  case CIL_POLICY_OK: return "ok";
  case CIL_POLICY_EARG: return "bad argument";
  case CIL_POLICY_ESIZE: return "sizes do not match the policy";
  case CIL_POLICY_EFILE: return "cannot read the file as a cleanil checkpoint";
  case CIL_POLICY_EFORMAT: return "the file holds no actor of the expected layout";
  case CIL_POLICY_EVALUE: return "non-finite weights or statistics";
  case CIL_POLICY_ENOMEM: return "out of memory";
  default: return "unknown error code";
  }
}

cil_policy_opts cil_policy_opts_default(void) {
  cil_policy_opts o = {256, CIL_POLICY_SILU};
  return o;
}

void cil_policy_rng_seed(cil_policy_rng *r, uint64_t seed) {
  if (!r) return;
  cil_rng g;
  cil_rng_seed(&g, seed);
  memcpy(r->s, g.s, sizeof r->s);
}

int cil_policy_obs_dim(const cil_policy *p) { return p ? p->obs_dim : CIL_POLICY_EARG; }
int cil_policy_act_dim(const cil_policy *p) { return p ? p->act_dim : CIL_POLICY_EARG; }
int cil_policy_max_batch(const cil_policy *p) { return p ? p->max_batch : CIL_POLICY_EARG; }
int cil_policy_normalizes(const cil_policy *p) { return p && p->mean ? 1 : 0; }

void cil_policy_free(cil_policy *p) {
  if (!p) return;
  free(p->params);
  free(p->scratch);
  free(p);
}

/* ------------------------------------------------------------------ scratch */
static size_t round64(size_t floats) { return (floats + 15) & ~(size_t)15; } /* 64-byte multiples */
static int alloc_scratch(cil_policy *p, int n) {
  size_t nx = round64((size_t)n * p->obs_dim), nh = round64((size_t)n * p->width),
         nxi = round64((size_t)n * p->act_dim);
  float *s = aligned_alloc(64, (nx + 2 * nh + nxi) * sizeof(float));
  if (!s) return fail(CIL_POLICY_ENOMEM, "policy: out of memory for a batch of %d rows", n);
  free(p->scratch);
  p->scratch = s;
  p->x = s;
  p->h0 = s + nx;
  p->h1 = p->h0 + nh;
  p->xi = p->h1 + nh;
  p->max_batch = n;
  return CIL_POLICY_OK;
}
int cil_policy_reserve(cil_policy *p, int n) {
  if (!p) return fail(CIL_POLICY_EARG, "policy_reserve: the policy is NULL");
  if (n < 1 || n > MAX_BATCH) return fail(CIL_POLICY_EARG, "policy_reserve: %d rows (1 to %d)", n, MAX_BATCH);
  return n <= p->max_batch ? CIL_POLICY_OK : alloc_scratch(p, n);
}

/* ------------------------------------------------------------------ forward */
/* hidden activation in place, with the kernels of x:silu(), x:relu(), ... */
static void activate(const cil_policy *p, float *h, int64_t n) {
  switch (p->activation) {
  case CIL_POLICY_SILU: cil_unary_kernel(CIL_SILU, h, h, n); break;
  case CIL_POLICY_RELU: cil_unary_kernel(CIL_RELU, h, h, n); break;
  case CIL_POLICY_TANH: cil_unary_kernel(CIL_TANH, h, h, n); break;
  case CIL_POLICY_SIGMOID: cil_unary_kernel(CIL_SIGMOID, h, h, n); break;
  case CIL_POLICY_LEAKY_RELU: /* cil_leaky_relu(x, 0.01) */
    for (int64_t i = 0; i < n; i++) h[i] = h[i] > 0.0f ? h[i] : 0.01f * h[i];
    break;
  default: break; /* identity */
  }
}

/* mu [n, A] and log_std [n, A] of n observations, the actor's forward (actor.lua):
 *   x = (obs - mean) / std                        if the file has statistics
 *   h = act(x W1^T + b1), ..., out = h W_L^T + b_L    [n, 2A]
 *   mu = clamp(out[:, :A], -MU_BOUND, MU_BOUND)
 *   log_std = (tanh(out[:, A:]) + 1) * (L1 - L0) / 2 + L0
 * mu and log_std land in one of the hidden buffers (returned through *mu, *ls). */
static void forward(cil_policy *p, const float *obs, int n, float **mu, float **ls) {
  const int O = p->obs_dim, A = p->act_dim;
  const float *cur = obs;
  if (p->mean) {
    for (int r = 0; r < n; r++)
      for (int j = 0; j < O; j++) {
        float t = obs[(size_t)r * O + j] - p->mean[j];
        p->x[(size_t)r * O + j] = t / p->std[j];
      }
    cur = p->x;
  }
  float *dst = p->h0;
  int own = cil_gemm_own_active();
  for (int l = 0; l < p->nlayers; l++) {
    dst = (l % 2 == 0) ? p->h0 : p->h1;
    /* x W^T + b. Where our kernel runs the product, W^T stored at load is read in place instead of W
     * being transposed into panels on every call: the same sums in the same order, so the same bits */
    if (p->wt[l] && own)
      cil_sgemm_bias_serial(0, 0, n, p->out[l], p->in[l], 1.0f, cur, p->in[l], p->wt[l], p->out[l], 0.0f, dst,
                            p->out[l], p->b[l]);
    else
      cil_sgemm_bias_serial(0, 1, n, p->out[l], p->in[l], 1.0f, cur, p->in[l], p->w[l], p->in[l], 0.0f, dst,
                            p->out[l], p->b[l]);
    if (l < p->nlayers - 1) activate(p, dst, (int64_t)n * p->out[l]);
    cur = dst;
  }
  float *m = dst == p->h0 ? p->h1 : p->h0, *s = m + (size_t)n * A;
  for (int r = 0; r < n; r++)
    for (int j = 0; j < A; j++) {
      float v = cur[(size_t)r * 2 * A + j];
      m[(size_t)r * A + j] = v < p->mu_lo ? p->mu_lo : (v > p->mu_hi ? p->mu_hi : v);
      s[(size_t)r * A + j] = cur[(size_t)r * 2 * A + A + j];
    }
  int64_t na = (int64_t)n * A;
  cil_unary_kernel(CIL_TANH, s, s, na);
  for (int64_t i = 0; i < na; i++) {
    float t = s[i] + 1.0f;
    t = t * p->ls_scale;
    s[i] = t + p->ls_shift;
  }
  *mu = m;
  *ls = s;
}

static int check_call(const cil_policy *p, const float *obs, int n, int obs_dim, const float *act, int act_dim,
                      const char *fn) {
  if (!p || !obs || !act) return fail(CIL_POLICY_EARG, "%s: %s is NULL", fn, !p ? "the policy" : !obs ? "obs" : "act");
  if (n < 1) return fail(CIL_POLICY_EARG, "%s: batch of %d rows (at least 1)", fn, n);
  if (obs_dim != p->obs_dim || act_dim != p->act_dim)
    return fail(CIL_POLICY_ESIZE, "%s: called with obs_dim %d and act_dim %d; the policy has %d and %d", fn, obs_dim,
                act_dim, p->obs_dim, p->act_dim);
  if (n > p->max_batch)
    return fail(CIL_POLICY_ESIZE, "%s: batch of %d rows, more than max_batch %d (cil_policy_reserve grows it)", fn, n,
                p->max_batch);
  return CIL_POLICY_OK;
}

/* a = tanh(mu) */
int cil_policy_act(cil_policy *p, const float *obs, int n, int obs_dim, float *act, int act_dim) {
  int rc = check_call(p, obs, n, obs_dim, act, act_dim, "policy_act");
  if (rc) return rc;
  unsigned fp = cil_fpenv_apply(cil_get_flush_subnormals()); /* as the Lua side computes; restored */
  float *mu, *ls;
  forward(p, obs, n, &mu, &ls);
  cil_unary_kernel(CIL_TANH, mu, act, (int64_t)n * p->act_dim);
  cil_fpenv_restore(fp);
  return CIL_POLICY_OK;
}

/* a = tanh(mu + exp(log_std) * xi), xi = randn(rng, n, A) (dist.lua: TanhNormal:sample) */
int cil_policy_sample(cil_policy *p, const float *obs, int n, int obs_dim, cil_policy_rng *rng, float *act,
                      int act_dim) {
  int rc = check_call(p, obs, n, obs_dim, act, act_dim, "policy_sample");
  if (rc) return rc;
  if (!rng) return fail(CIL_POLICY_EARG, "policy_sample: rng is NULL");
  unsigned fp = cil_fpenv_apply(cil_get_flush_subnormals());
  float *mu, *ls;
  forward(p, obs, n, &mu, &ls);
  int64_t na = (int64_t)n * p->act_dim;
  cil_rng g;
  memcpy(g.s, rng->s, sizeof g.s);
  cil_rng_fill_normal(&g, p->xi, na, 0.0f, 1.0f);
  memcpy(rng->s, g.s, sizeof g.s);
  cil_unary_kernel(CIL_EXP, ls, ls, na); /* std */
  for (int64_t i = 0; i < na; i++) {
    float t = ls[i] * p->xi[i];
    act[i] = mu[i] + t;
  }
  cil_unary_kernel(CIL_TANH, act, act, na);
  cil_fpenv_restore(fp);
  return CIL_POLICY_OK;
}

/* ------------------------------------------------------------------ loading */
static pthread_mutex_t g_load_mu = PTHREAD_MUTEX_INITIALIZER; /* HDF5 (serial build) is not thread-safe */
static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;
extern void openblas_set_num_threads(int);
static void blas_single(void) { openblas_set_num_threads(1); }

static const char *shape_of(const cil_tensor *t, char *buf, size_t cap) {
  size_t k = (size_t)snprintf(buf, cap, "[");
  for (int d = 0; d < t->ndim && k < cap; d++) k += (size_t)snprintf(buf + k, cap - k, d ? ", %d" : "%d", t->shape[d]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
  return buf;
}
static const cil_h5node *child_group(const cil_h5node *g, const char *name) {
  const cil_h5node *c = g ? cil_h5_find(g, name) : NULL;
  return c && c->type == CIL_H5_GROUP ? c : NULL;
}
static int all_finite(const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

/* fill p from the tree; the actor group is `ag`, the statistics are at the root */
static int take_actor(cil_policy *p, const char *file, const cil_h5node *root, const cil_h5node *ag,
                      const char *where) {
  char name[64], s1[64];
  int L = 0;
  for (const cil_h5node *c = ag->child; c; c = c->next) { /* the highest layer index present */
    int i, k = 0;
    if (sscanf(c->name, "net.layers.%d.weight%n", &i, &k) == 1 && c->name[k] == 0 && i > L) L = i;
  }
  if (L < 1) return fail(CIL_POLICY_EFORMAT, "policy: %s: '%s' holds no net.layers.1.weight (not an actor)", file, where);
  if (L > MAX_LAYERS) return fail(CIL_POLICY_EFORMAT, "policy: %s: %d layers (at most %d)", file, L, MAX_LAYERS);
  const cil_tensor *W[MAX_LAYERS], *B[MAX_LAYERS];
  int64_t total = 0;
  for (int l = 0; l < L; l++) {
    const cil_h5node *wn, *bn;
    snprintf(name, sizeof name, "net.layers.%d.weight", l + 1);
    wn = cil_h5_find(ag, name);
    if (!wn || wn->type != CIL_H5_TENSOR)
      return fail(CIL_POLICY_EFORMAT, "policy: %s: '%s/%s' is missing or not a tensor", file, where, name);
    snprintf(name, sizeof name, "net.layers.%d.bias", l + 1);
    bn = cil_h5_find(ag, name);
    if (!bn || bn->type != CIL_H5_TENSOR)
      return fail(CIL_POLICY_EFORMAT, "policy: %s: '%s/%s' is missing or not a tensor", file, where, name);
    W[l] = wn->tensor;
    B[l] = bn->tensor;
    if (W[l]->ndim != 2 || W[l]->shape[0] < 1 || W[l]->shape[1] < 1 || W[l]->shape[0] > MAX_WIDTH ||
        W[l]->shape[1] > MAX_WIDTH)
      return fail(CIL_POLICY_EFORMAT, "policy: %s: '%s/net.layers.%d.weight' is %s, expected [out, in] (sizes 1 to %d)",
                  file, where, l + 1, shape_of(W[l], s1, sizeof s1), MAX_WIDTH);
    int o = W[l]->shape[0], in = W[l]->shape[1];
    if (l > 0 && in != p->out[l - 1])
      return fail(CIL_POLICY_EFORMAT, "policy: %s: '%s/net.layers.%d.weight' is %s, expected [%d, %d] (layer %d has %d outputs)",
                  file, where, l + 1, shape_of(W[l], s1, sizeof s1), o, p->out[l - 1], l, p->out[l - 1]);
    if (B[l]->ndim != 1 || B[l]->shape[0] != o)
      return fail(CIL_POLICY_EFORMAT, "policy: %s: '%s/net.layers.%d.bias' is %s, expected [%d]", file, where, l + 1,
                  shape_of(B[l], s1, sizeof s1), o);
    p->in[l] = in;
    p->out[l] = o;
    total += (int64_t)o * in + o;
  }
  if (p->out[L - 1] % 2 != 0)
    return fail(CIL_POLICY_EFORMAT, "policy: %s: the last layer has %d outputs; a tanh-Gaussian actor has 2 * act_dim",
                file, p->out[L - 1]);
  p->nlayers = L;
  p->obs_dim = p->in[0];
  p->act_dim = p->out[L - 1] / 2;
  p->width = 2 * p->act_dim;
  for (int l = 0; l < L; l++)
    if (p->out[l] > p->width) p->width = p->out[l];
  const cil_h5node *mn = cil_h5_find(root, "obs_mean"), *sn = cil_h5_find(root, "obs_std");
  if (!mn != !sn) return fail(CIL_POLICY_EFORMAT, "policy: %s: has %s but not %s", file, mn ? "obs_mean" : "obs_std", mn ? "obs_std" : "obs_mean");
  if (mn && (mn->type != CIL_H5_TENSOR || sn->type != CIL_H5_TENSOR || mn->tensor->numel != p->obs_dim ||
             sn->tensor->numel != p->obs_dim))
    return fail(CIL_POLICY_EFORMAT, "policy: %s: obs_mean and obs_std must hold %d values each (the actor's input size)",
                file, p->obs_dim);
  if (total > ((int64_t)1 << 30)) return fail(CIL_POLICY_EFORMAT, "policy: %s: %lld parameters (too many)", file, (long long)total);
  /* our GEMM takes outputs at least 16 wide with at least 2 inputs (cil_gemm_own): those get W^T too */
  int64_t ntrans = 0;
  for (int l = 0; l < L; l++)
    if (p->out[l] >= 16 && p->in[l] >= 2) ntrans += (int64_t)p->out[l] * p->in[l];
  size_t nparams = (size_t)(total + ntrans) + (mn ? 2 * (size_t)p->obs_dim : 0);
  p->params = malloc(nparams * sizeof(float));
  if (!p->params) return fail(CIL_POLICY_ENOMEM, "policy: %s: out of memory for %zu parameters", file, nparams);
  float *q = p->params;
  for (int l = 0; l < L; l++) {
    int64_t nw = (int64_t)p->out[l] * p->in[l];
    if (!all_finite(W[l]->data, nw) || !all_finite(B[l]->data, p->out[l]))
      return fail(CIL_POLICY_EVALUE, "policy: %s: layer %d has NaN or infinite weights", file, l + 1);
    memcpy(q, W[l]->data, (size_t)nw * sizeof(float));
    p->w[l] = q;
    q += nw;
    memcpy(q, B[l]->data, (size_t)p->out[l] * sizeof(float));
    p->b[l] = q;
    q += p->out[l];
    if (p->out[l] >= 16 && p->in[l] >= 2) {
      for (int i = 0; i < p->out[l]; i++)
        for (int j = 0; j < p->in[l]; j++) q[(size_t)j * p->out[l] + i] = p->w[l][(size_t)i * p->in[l] + j];
      p->wt[l] = q;
      q += nw;
    }
  }
  if (mn) {
    p->mean = q;
    p->std = q + p->obs_dim;
    memcpy(p->mean, mn->tensor->data, (size_t)p->obs_dim * sizeof(float));
    memcpy(p->std, sn->tensor->data, (size_t)p->obs_dim * sizeof(float));
    for (int j = 0; j < p->obs_dim; j++)
      if (!isfinite(p->mean[j]) || !isfinite(p->std[j]) || !(p->std[j] > 0.0f))
        return fail(CIL_POLICY_EVALUE, "policy: %s: obs_mean[%d] = %g, obs_std[%d] = %g (finite, std > 0 expected)", file,
                    j, p->mean[j], j, p->std[j]);
  }
  return CIL_POLICY_OK;
}

int cil_policy_load(const char *path, const cil_policy_opts *opts, cil_policy **out) {
  if (out) *out = NULL;
  if (!path || !out) return fail(CIL_POLICY_EARG, "policy_load: %s is NULL", !path ? "path" : "out");
  cil_policy_opts o = opts ? *opts : cil_policy_opts_default();
  if (o.max_batch < 1 || o.max_batch > MAX_BATCH)
    return fail(CIL_POLICY_EARG, "policy_load: max_batch %d (1 to %d)", o.max_batch, MAX_BATCH);
  if (o.activation < CIL_POLICY_SILU || o.activation > CIL_POLICY_IDENTITY)
    return fail(CIL_POLICY_EARG, "policy_load: unknown activation %d", o.activation);
  /* a run directory: its policy.h5 */
  char file[4096];
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (snprintf(file, sizeof file, "%s/policy.h5", path) >= (int)sizeof file)
      return fail(CIL_POLICY_EARG, "policy_load: path too long");
  } else if (snprintf(file, sizeof file, "%s", path) >= (int)sizeof file) {
    return fail(CIL_POLICY_EARG, "policy_load: path too long");
  }
  if (access(file, R_OK) != 0) return fail(CIL_POLICY_EFILE, "policy: cannot open %s: %s", file, strerror(errno));
  if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) return fail(CIL_POLICY_EFILE, "policy: %s is not a regular file", file);
  pthread_once(&g_blas_once, blas_single);

  cil_policy *p = calloc(1, sizeof *p);
  if (!p) return fail(CIL_POLICY_ENOMEM, "policy: out of memory");
  p->activation = o.activation;
  /* the actor's constants, computed as actor.lua does (in double, then rounded to float32 by the op) */
  double L0 = log(1e-3), L1 = log(3.0), e = (double)(float)(1 - 1e-6);
  double mu_bound = 0.5 * log((1 + e) / (1 - e));
  p->mu_lo = (float)-mu_bound;
  p->mu_hi = (float)mu_bound;
  p->ls_scale = (float)(0.5 * (L1 - L0));
  p->ls_shift = (float)L0;

  pthread_mutex_lock(&g_load_mu);
  cil_h5node *root = cil_h5_read_tree(file, "/", 1);
  int rc;
  if (!root) {
    rc = fail(CIL_POLICY_EFILE, "policy: %s", cil_errmsg());
  } else {
    const cil_h5node *ag = child_group(root, "actor");
    const char *where = "actor";
    if (!ag && (ag = child_group(child_group(child_group(root, "learner"), "sac"), "actor"))) where = "learner/sac/actor";
    if (!ag && (ag = child_group(child_group(root, "sac"), "actor"))) where = "sac/actor";
    rc = ag ? take_actor(p, file, root, ag, where)
            : fail(CIL_POLICY_EFORMAT, "policy: %s holds no actor (expected 'actor' or 'learner.sac.actor')", file);
    cil_h5_free_tree(root);
  }
  pthread_mutex_unlock(&g_load_mu);
  if (rc == CIL_POLICY_OK) rc = alloc_scratch(p, o.max_batch);
  if (rc != CIL_POLICY_OK) {
    cil_policy_free(p);
    return rc;
  }
  /* one call now, so the GEMM's packing buffers and OpenBLAS's own exist before the first real one */
  memset(p->scratch, 0, (size_t)p->obs_dim * sizeof(float));
  float *mu, *ls;
  const float *zeros = p->x;
  if (p->mean) { /* forward() writes x; give it its own zero row in h1 */
    memset(p->h1, 0, (size_t)p->obs_dim * sizeof(float));
    zeros = p->h1;
  }
  forward(p, zeros, 1, &mu, &ls);
  *out = p;
  return CIL_POLICY_OK;
}
