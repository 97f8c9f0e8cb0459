/* Reductions: sum, mean, max, min, logsumexp over one dim or all, argmax/argmin, the L2 norm and the
 * sum of squares. */
#include "internal.h"
#include "optim.h"
#include <stdio.h>

/* ================================================================ reductions */
static const char *reduce_name[CIL_NREDUCE] = {"sum", "mean", "max", "min", "logsumexp"};

/* g (reduced shape) broadcast back to x's shape */
static cil_tensor *unreduce(cil_tensor *g, cil_tensor *x, int dim) {
  if (dim < 0) return cil_expand(g, x->ndim, x->shape);
  int s[CIL_MAXDIM];
  for (int k = 0; k < x->ndim; k++) s[k] = k == dim ? 1 : x->shape[k];
  cil_tensor *gk = cil_reshape(g, x->ndim, s);
  CIL_NONNULL(gk);
  return cil_expand(gk, x->ndim, x->shape);
}

static void reduce_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *x = nd->in[0];
  int dim = nd->i[1];
  switch (nd->i[0]) {
  case CIL_SUM: gin[0] = unreduce(g, x, dim); break;
  case CIL_MEAN: {
    int64_t n = dim < 0 ? x->numel : x->shape[dim];
    gin[0] = unreduce(cil_affine(g, 1.0f / (float)n, 0.0f), x, dim);
    break;
  }
  case CIL_MAX:
  case CIL_MIN: { /* ties split evenly, like torch.amax */
    NOGRAD_BEGIN;
    cil_tensor *m = cil_binary(CIL_EQ, x, unreduce(nd->out, x, dim));
    cil_tensor *cnt = cil_reduce(CIL_SUM, m, dim < 0 ? CIL_ALLDIMS : dim, 0);
    cil_tensor *w = DIV(m, unreduce(cnt, x, dim));
    NOGRAD_END;
    gin[0] = MUL(unreduce(g, x, dim), w);
    break;
  }
  case CIL_LOGSUMEXP:
    gin[0] = MUL(unreduce(g, x, dim), cil_unary(CIL_EXP, SUB(x, unreduce(nd->out, x, dim))));
    break;
  }
}

cil_tensor *cil_reduce(cil_reduce_op op, cil_tensor *x, int dim, int keepdim) {
  int d = -1;
  int64_t outer = 1, n = x->numel, inner = 1;
  int s[CIL_MAXDIM], nd = 0;
  if (dim != CIL_ALLDIMS) {
    d = cil_normdim(dim, x->ndim);
    CIL_CHECK(d >= 0, "%s: dim %d out of range for %s", reduce_name[op], dim, cil_shapestr(x));
    cil_split_dims(x, d, &outer, &n, &inner);
    for (int k = 0; k < x->ndim; k++) s[nd++] = x->shape[k];
    s[d] = 1;
    if (!keepdim) {
      for (int k = d; k < x->ndim - 1; k++) s[k] = s[k + 1];
      nd--;
    }
  }
  CIL_CHECK(n > 0 || op == CIL_SUM || op == CIL_MEAN, "%s: cannot reduce an empty dimension of %s",
            reduce_name[op], cil_shapestr(x));
  cil_tensor *out = cil_new(nd, s);
  CIL_NONNULL(out);
  for (int64_t o = 0; o < outer; o++) {
    const float *px = x->data + o * n * inner;
    float *po = out->data + o * inner;
    for (int64_t i = 0; i < inner; i++) {
      double acc;
      switch (op) {
      case CIL_SUM:
      case CIL_MEAN:
        if (inner > 1) { /* handled below, row by row */
          po[i] = 0.0f;
          break;
        }
        acc = 0.0;
        for (int64_t j = 0; j < n; j++) acc += px[j * inner + i];
        po[i] = (float)(op == CIL_MEAN ? (n ? acc / (double)n : NAN) : acc);
        break;
      case CIL_MAX:
      case CIL_MIN: {
        float m = px[i];
        for (int64_t j = 1; j < n; j++) {
          float v = px[j * inner + i];
          if (isnan(v) || (op == CIL_MAX ? v > m : v < m)) m = v;
          if (isnan(m)) break;
        }
        po[i] = m;
        break;
      }
      case CIL_LOGSUMEXP: {
        float m = -INFINITY;
        for (int64_t j = 0; j < n; j++) m = fmaxf(m, px[j * inner + i]);
        if (isinf(m)) {
          po[i] = m;
          break;
        }
        acc = 0.0;
        for (int64_t j = 0; j < n; j++) acc += exp((double)px[j * inner + i] - m);
        po[i] = (float)(m + log(acc));
        break;
      }
      default: break;
      }
    }
    if ((op == CIL_SUM || op == CIL_MEAN) && inner > 1) { /* contiguous rows: vectorizes */
      for (int64_t j = 0; j < n; j++) {
        const float *row = px + j * inner;
        for (int64_t i = 0; i < inner; i++) po[i] += row[i];
      }
      if (op == CIL_MEAN) {
        float f = n ? 1.0f / (float)n : NAN;
        for (int64_t i = 0; i < inner; i++) po[i] *= f;
      }
    }
  }
  cil_node *node = cil_record(reduce_name[op], reduce_backward, out, 1, x, NULL, NULL);
  if (node) {
    node->i[0] = op;
    node->i[1] = d;
  }
  return out;
}

cil_tensor *cil_argmax(cil_tensor *x, int dim, int keepdim, int base, int argmin) {
  const char *name = argmin ? "argmin" : "argmax";
  int d = -1;
  int64_t outer = 1, n = x->numel, inner = 1;
  int s[CIL_MAXDIM], nd = 0;
  if (dim != CIL_ALLDIMS) {
    d = cil_normdim(dim, x->ndim);
    CIL_CHECK(d >= 0, "%s: dim %d out of range for %s", name, dim, cil_shapestr(x));
    cil_split_dims(x, d, &outer, &n, &inner);
    for (int k = 0; k < x->ndim; k++) s[nd++] = x->shape[k];
    s[d] = 1;
    if (!keepdim) {
      for (int k = d; k < x->ndim - 1; k++) s[k] = s[k + 1];
      nd--;
    }
  }
  CIL_CHECK(n > 0, "%s: empty dimension in %s", name, cil_shapestr(x));
  cil_tensor *out = cil_new(nd, s);
  CIL_NONNULL(out);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const float *px = x->data + o * n * inner + i;
      int64_t best = 0;
      for (int64_t j = 1; j < n; j++) {
        float v = px[j * inner], b = px[best * inner];
        if (isnan(b)) break;
        if (isnan(v) || (argmin ? v < b : v > b)) best = j;
      }
      out->data[o * inner + i] = (float)(best + base);
    }
  return out;
}

/* y = sqrt(sum x^2) over dim (or all elements); dy/dx = x / y, taken as 0 where y = 0 (as PyTorch: the
 * subgradient 0 at the kink, not 0/0). Written with where() on a safe denominator, so that higher
 * derivatives are finite there too. */
static void norm_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *x = nd->in[0], *y = nd->out;
  int dim = nd->i[0];
  cil_tensor *one = cil_scalar(1.0f), *zero = cil_scalar(0.0f);
  if (!one || !zero) return;
  NOGRAD_BEGIN;
  cil_tensor *pos = cil_binary(CIL_GT, y, zero);
  NOGRAD_END;
  if (!pos) return;
  cil_tensor *ys = cil_where(pos, y, one);            /* y, or 1 where y = 0 */
  cil_tensor *r = ys ? cil_where(pos, DIV(g, ys), zero) : NULL; /* g / y, or 0 */
  if (!r) return;
  gin[0] = MUL(unreduce(r, x, dim), x);
}
cil_tensor *cil_norm(cil_tensor *x, int dim, int keepdim) {
  NOGRAD_BEGIN; /* one node for the whole norm: its rule handles y = 0 */
  cil_tensor *sq = cil_unary(CIL_SQUARE, x);
  cil_tensor *s = sq ? cil_reduce(CIL_SUM, sq, dim, keepdim) : NULL;
  cil_tensor *out = s ? cil_unary(CIL_SQRT, s) : NULL;
  NOGRAD_END;
  CIL_NONNULL(out);
  cil_node *n = cil_record("norm", norm_backward, out, 1, x, NULL, NULL);
  if (n) n->i[0] = dim == CIL_ALLDIMS ? -1 : cil_normdim(dim, x->ndim);
  return out;
}

/* s = sum x^2 over all elements: weight decay and l2 penalties, one node instead of square + sum. The
 * forward is one pass (cil_sumsq's 8 double lanes; square + sum was a serial double chain and a
 * temporary as big as x). ds/dx = 2x: a first-order backward is one fused loop (2g) x, the same bits as
 * square's g (2x) since doubling is exact; under create_graph it is built from differentiable ops. */
typedef struct {
  const float *x;
  float *o, g2;
} sumsq_job;
static void sumsq_bwd_range(int64_t lo, int64_t hi, void *ctx) {
  sumsq_job *j = ctx;
  const float *restrict x = j->x;
  float *restrict o = j->o;
  for (int64_t i = lo; i < hi; i++) o[i] = j->g2 * x[i];
}
static void sumsq_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *x = nd->in[0];
  if (!cil_grad_enabled()) {
    cil_tensor *o = cil_new_like(x);
    if (!o) return;
    sumsq_job j = {x->data, o->data, 2.0f * g->data[0]};
    cil_parallel_for(x->numel, CIL_PAR_MIN, sumsq_bwd_range, &j);
    gin[0] = o;
    return;
  }
  gin[0] = MUL(unreduce(g, x, -1), cil_binary_s(CIL_MUL, x, 2.0f));
}
cil_tensor *cil_sumsq_all(cil_tensor *x) {
  cil_tensor *out = cil_new(0, NULL);
  CIL_NONNULL(out);
  out->data[0] = (float)cil_sumsq(x->data, x->numel);
  cil_record("sumsq", sumsq_backward, out, 1, x, NULL, NULL);
  return out;
}
