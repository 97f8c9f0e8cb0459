/* Adam/AdamW, gradient clipping, polyak averaging: loops over flat parameter arrays. */
#include "optim.h"
#include "internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

cil_adam *cil_adam_new(cil_tensor **params, int n, float lr, float beta1, float beta2, float eps,
                       float weight_decay, int decoupled) {
  CIL_CHECK(n > 0, "Adam: empty parameter list");
  CIL_CHECK(isfinite(lr) && isfinite(eps) && isfinite(weight_decay),
            "Adam: hyper-parameters must be finite numbers (lr %g, eps %g, weight_decay %g)", lr, eps,
            weight_decay);
  CIL_CHECK(lr >= 0 && eps >= 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 &&
                weight_decay >= 0,
            "Adam: invalid hyper-parameters (lr %g, betas %g %g, eps %g, weight_decay %g)", lr,
            beta1, beta2, eps, weight_decay);
  for (int i = 0; i < n; i++)
    CIL_CHECK(params[i]->persistent, "Adam: parameter %d (%s) is not persistent (use cil.param)",
              i + 1, cil_shapestr(params[i]));
  cil_adam *o = calloc(1, sizeof *o);
  CIL_CHECK(o, "out of memory");
  o->n = n;
  o->p = calloc(n, sizeof *o->p);
  o->m = calloc(n, sizeof *o->m);
  o->v = calloc(n, sizeof *o->v);
  if (!o->p || !o->m || !o->v) {
    cil_adam_free(o);
    CIL_CHECK(0, "out of memory");
  }
  for (int i = 0; i < n; i++) {
    o->p[i] = params[i];
    cil_retain(params[i]);
    o->m[i] = cil_persistent(params[i]->ndim, params[i]->shape);
    o->v[i] = cil_persistent(params[i]->ndim, params[i]->shape);
    if (!o->m[i] || !o->v[i]) {
      cil_adam_free(o);
      return NULL;
    }
  }
  o->lr = lr;
  o->beta1 = beta1;
  o->beta2 = beta2;
  o->eps = eps;
  o->weight_decay = weight_decay;
  o->decoupled = decoupled;
  return o;
}

void cil_adam_free(cil_adam *o) {
  if (!o) return;
  for (int i = 0; i < o->n; i++) {
    if (o->p) cil_release(o->p[i]);
    if (o->m) cil_release(o->m[i]);
    if (o->v) cil_release(o->v[i]);
  }
  free(o->p);
  free(o->m);
  free(o->v);
  free(o);
}

typedef struct {
  cil_adam *o;
  int i;
  float step_size, bc2_sqrt, b1, b2, eps, wd;
} adam_job;
/* one parameter's update over elements [lo, hi) */
static void adam_range(int64_t lo, int64_t hi, void *ctx) {
  adam_job *J = ctx;
  cil_adam *o = J->o;
  /* restrict: the four arrays never alias, which lets the compiler vectorize (same arithmetic) */
  float *restrict x = o->p[J->i]->data + lo, *restrict m = o->m[J->i]->data + lo,
        *restrict v = o->v[J->i]->data + lo;
  const float *restrict g = o->p[J->i]->grad->data + lo;
  const float b1 = J->b1, b2 = J->b2, eps = J->eps, wd = J->wd, step_size = J->step_size,
              bc2_sqrt = J->bc2_sqrt, c1 = 1.0f - b1, c2 = 1.0f - b2;
  const int64_t n = hi - lo;
  const int l2 = !o->decoupled && wd != 0.0f;
  if (o->decoupled && wd != 0.0f) {
    const float f = 1.0f - o->lr * wd;
    for (int64_t j = 0; j < n; j++) x[j] *= f;
  }
  for (int64_t j = 0; j < n; j++) { /* the compiler unswitches l2 out of the loop */
    float gj = g[j];
    if (l2) gj += wd * x[j];
    const float mj = b1 * m[j] + c1 * gj, vj = b2 * v[j] + c2 * gj * gj;
    m[j] = mj;
    v[j] = vj;
    x[j] -= step_size * (mj / (sqrtf(vj) / bc2_sqrt + eps));
  }
}

/* torch.optim.Adam (foreach=False, amsgrad=False, maximize=False):
 *   g += wd*p (Adam) | p *= 1 - lr*wd (AdamW)
 *   m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g^2
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)                                      */
int cil_adam_step(cil_adam *o) {
  o->step++;
  /* scalars in double, as torch computes them in Python */
  double bc1 = 1.0 - pow((double)o->beta1, (double)o->step);
  double bc2 = 1.0 - pow((double)o->beta2, (double)o->step);
  float step_size = (float)((double)o->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
  float b1 = o->beta1, b2 = o->beta2, eps = o->eps, wd = o->weight_decay;
  adam_job job = {o, 0, step_size, bc2_sqrt, b1, b2, eps, wd};
  for (int i = 0; i < o->n; i++) {
    if (!o->p[i]->grad) continue;
    job.i = i;
    cil_parallel_for(o->p[i]->numel, CIL_PAR_MIN, adam_range, &job);
  }
  return 1;
}

/* sum of squares in 8 independent double lanes; finite iff every element is finite (a float's
 * square cannot overflow a double); (vectorizes; strict FP keeps one chain otherwise) */
double cil_sumsq(const float *restrict g, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; l++) acc[l] += (double)g[j + l] * g[j + l];
  for (; j < n; j++) acc[0] += (double)g[j] * g[j];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
double cil_clip_grad_norm(cil_tensor **params, int n, double max_norm) {
  double tot = 0.0;
  for (int i = 0; i < n; i++)
    if (params[i]->grad) tot += cil_sumsq(params[i]->grad->data, params[i]->numel);
  double norm = sqrt(tot);
  float coef = (float)(max_norm / (norm + 1e-6));
  if (coef < 1.0f)
    for (int i = 0; i < n; i++) {
      if (!params[i]->grad) continue;
      float *restrict g = params[i]->grad->data;
      for (int64_t j = 0; j < params[i]->numel; j++) g[j] *= coef;
    }
  return norm;
}

static int same_shapes(cil_tensor **a, cil_tensor **b, int n, const char *op) {
  for (int i = 0; i < n; i++)
    if (!cil_shape_eq(a[i], b[i])) {
      cil_seterr("%s: parameter %d has shape %s in one list and %s in the other", op, i + 1,
                 cil_shapestr(a[i]), cil_shapestr(b[i]));
      return 0;
    }
  return 1;
}

int cil_polyak(cil_tensor **target, cil_tensor **source, int n, float tau) {
  if (!same_shapes(target, source, n, "polyak")) return 0;
  float s = 1.0f - tau;
  for (int i = 0; i < n; i++) {
    float *t = target[i]->data;
    const float *x = source[i]->data;
    for (int64_t j = 0; j < target[i]->numel; j++) t[j] = tau * t[j] + s * x[j];
  }
  return 1;
}

int cil_copy_params(cil_tensor **dst, cil_tensor **src, int n) {
  if (!same_shapes(dst, src, n, "copy_params")) return 0;
  for (int i = 0; i < n; i++) memcpy(dst[i]->data, src[i]->data, (size_t)src[i]->numel * sizeof(float));
  return 1;
}

void cil_zero_grads(cil_tensor **params, int n) {
  for (int i = 0; i < n; i++)
    if (params[i]->grad) memset(params[i]->grad->data, 0, (size_t)params[i]->grad->numel * sizeof(float));
}
