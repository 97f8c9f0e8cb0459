/* Linear algebra ops: mm, batched mm, matmul, linear and the ensemble linear layer, each with its
 * backward rule. The products themselves go through cil_sgemm / cil_sgemm_batch (gemm_dispatch.c). */
#include "internal.h"
#include <stdio.h>
#include <string.h>


static void mm_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *a = nd->in[0], *b = nd->in[1];
  int ta = nd->i[0], tb = nd->i[1];
  if (nd->need[0]) gin[0] = ta ? cil_mm(b, g, tb, 1) : cil_mm(g, b, 0, !tb);
  if (nd->need[1]) gin[1] = tb ? cil_mm(g, a, 1, ta) : cil_mm(a, g, !ta, 0);
}

cil_tensor *cil_mm(cil_tensor *a, cil_tensor *b, int ta, int tb) {
  CIL_CHECK(a->ndim == 2 && b->ndim == 2, "mm: needs 2-D tensors, got %s and %s", cil_shapestr(a),
            cil_shapestr(b));
  int m = ta ? a->shape[1] : a->shape[0], k = ta ? a->shape[0] : a->shape[1];
  int k2 = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
  CIL_CHECK(k == k2, "matmul: %s%s @ %s%s: inner sizes %d and %d differ", cil_shapestr(a),
            ta ? "^T" : "", cil_shapestr(b), tb ? "^T" : "", k, k2);
  int s[2] = {m, n};
  cil_tensor *out = cil_new(2, s);
  CIL_NONNULL(out);
  cil_sgemm(ta, tb, m, n, k, 1.0f, a->data, a->shape[1], b->data, b->shape[1], 0.0f, out->data, n);
  cil_node *nd = cil_record("mm", mm_backward, out, 2, a, b, NULL);
  if (nd) {
    nd->i[0] = ta;
    nd->i[1] = tb;
  }
  return out;
}

/* batched: a [E,m,k] or [m,k] (shared), b [E,k,n] or [k,n] (shared) -- with transposes */
static cil_tensor *bmm(cil_tensor *a, cil_tensor *b, int ta, int tb);
static cil_tensor *batch_sum_if(cil_tensor *g, cil_tensor *like) {
  if (!g || like->ndim == 3) return g;
  return cil_reduce(CIL_SUM, g, 0, 0);
}
static void bmm_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *a = nd->in[0], *b = nd->in[1];
  int ta = nd->i[0], tb = nd->i[1];
  if (nd->need[0]) gin[0] = batch_sum_if(ta ? bmm(b, g, tb, 1) : bmm(g, b, 0, !tb), a);
  if (nd->need[1]) {
    cil_tensor *dst = b->ndim == 3 && !tb ? cil_direct_grad(b) : NULL;
    if (dst) { /* grad_b[e] += op(a[e])^T g[e], one GEMM per member */
      int E = b->shape[0], k = b->shape[1], n = b->shape[2];
      int m = a->ndim == 3 ? (ta ? a->shape[2] : a->shape[1]) : (ta ? a->shape[1] : a->shape[0]);
      int64_t sa = a->ndim == 3 ? (int64_t)a->shape[1] * a->shape[2] : 0;
      int lda = a->ndim == 3 ? a->shape[2] : a->shape[1];
      cil_sgemm_batch(E, !ta, 0, k, n, m, 1.0f, a->data, sa, lda, g->data, (int64_t)m * n, n, 1.0f, dst->data,
                  (int64_t)k * n, n, NULL);
      gin[1] = CIL_HANDLED;
    } else {
      gin[1] = batch_sum_if(tb ? bmm(g, a, 1, ta) : bmm(a, g, !ta, 0), b);
    }
  }
}
static cil_tensor *bmm(cil_tensor *a, cil_tensor *b, int ta, int tb) {
  int E = a->ndim == 3 ? a->shape[0] : b->shape[0];
  CIL_CHECK(a->ndim == 2 || b->ndim == 2 || a->shape[0] == b->shape[0],
            "matmul: batch sizes of %s and %s differ", cil_shapestr(a), cil_shapestr(b));
  const int *as = a->ndim == 3 ? a->shape + 1 : a->shape, *bs = b->ndim == 3 ? b->shape + 1 : b->shape;
  int m = ta ? as[1] : as[0], k = ta ? as[0] : as[1];
  int k2 = tb ? bs[1] : bs[0], n = tb ? bs[0] : bs[1];
  CIL_CHECK(k == k2, "matmul: %s @ %s: inner sizes %d and %d differ", cil_shapestr(a),
            cil_shapestr(b), k, k2);
  int s[3] = {E, m, n};
  cil_tensor *out = cil_new(3, s);
  CIL_NONNULL(out);
  int64_t sa = a->ndim == 3 ? (int64_t)as[0] * as[1] : 0, sb = b->ndim == 3 ? (int64_t)bs[0] * bs[1] : 0;
  cil_sgemm_batch(E, ta, tb, m, n, k, 1.0f, a->data, sa, as[1], b->data, sb, bs[1], 0.0f, out->data, (int64_t)m * n, n, NULL);
  cil_node *nd = cil_record("bmm", bmm_backward, out, 2, a, b, NULL);
  if (nd) {
    nd->i[0] = ta;
    nd->i[1] = tb;
  }
  return out;
}

cil_tensor *cil_matmul(cil_tensor *a, cil_tensor *b) {
  CIL_CHECK(a->ndim >= 1 && a->ndim <= 3 && b->ndim >= 1 && b->ndim <= 3,
            "matmul: supports 1-D to 3-D tensors, got %s and %s", cil_shapestr(a), cil_shapestr(b));
  if (a->ndim == 1 || b->ndim == 1) { /* vector cases through 2-D */
    int sa[2] = {1, a->shape[0]}, sb[2] = {b->shape[0], 1};
    cil_tensor *a2 = a->ndim == 1 ? cil_reshape(a, 2, sa) : a;
    cil_tensor *b2 = b->ndim == 1 ? cil_reshape(b, 2, sb) : b;
    CIL_NONNULL(a2);
    CIL_NONNULL(b2);
    cil_tensor *r = cil_matmul(a2, b2);
    CIL_NONNULL(r);
    int s[3], nd = 0;
    for (int k = 0; k < r->ndim; k++) {
      if (a->ndim == 1 && k == r->ndim - 2) continue;
      if (b->ndim == 1 && k == r->ndim - 1) continue;
      s[nd++] = r->shape[k];
    }
    return cil_reshape(r, nd, s);
  }
  if (a->ndim == 2 && b->ndim == 2) return cil_mm(a, b, 0, 0);
  if (a->ndim == 3 && b->ndim == 2) { /* one GEMM over all rows */
    CIL_CHECK(a->shape[2] == b->shape[0], "matmul: %s @ %s: inner sizes %d and %d differ",
              cil_shapestr(a), cil_shapestr(b), a->shape[2], b->shape[0]);
    int s2[2] = {a->shape[0] * a->shape[1], a->shape[2]};
    cil_tensor *r = cil_mm(cil_reshape(a, 2, s2), b, 0, 0);
    CIL_NONNULL(r);
    int s3[3] = {a->shape[0], a->shape[1], b->shape[1]};
    return cil_reshape(r, 3, s3);
  }
  return bmm(a, b, 0, 0);
}

/* linear: y = x w^T + b over the last dim of x (any leading dims) */
static void linear_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *x = nd->in[0], *w = nd->in[1];
  int rows = (int)(x->numel / x->shape[x->ndim - 1]);
  int sg[2] = {rows, w->shape[0]}, sx[2] = {rows, w->shape[1]};
  cil_tensor *g2 = cil_reshape(g, 2, sg);
  if (!g2) return;
  if (nd->need[0]) {
    cil_tensor *gx = cil_mm(g2, w, 0, 0);
    gin[0] = gx ? cil_reshape(gx, x->ndim, x->shape) : NULL;
  }
  if (nd->need[1]) {
    cil_tensor *dst = cil_direct_grad(w);
    if (dst) { /* grad_w += g^T x in one GEMM */
      cil_sgemm(1, 0, w->shape[0], w->shape[1], rows, 1.0f, g2->data, w->shape[0], x->data, w->shape[1],
                1.0f, dst->data, w->shape[1]);
      gin[1] = CIL_HANDLED;
    } else {
      gin[1] = cil_mm(g2, cil_reshape(x, 2, sx), 1, 0);
    }
  }
  if (nd->nin > 2 && nd->need[2]) {
    cil_tensor *b = nd->in[2], *dst = cil_direct_grad(b);
    if (dst) { /* grad_b += column sums of g */
      for (int r = 0; r < rows; r++) {
        const float *gr = g2->data + (int64_t)r * b->numel;
        for (int64_t j = 0; j < b->numel; j++) dst->data[j] += gr[j];
      }
      gin[2] = CIL_HANDLED;
    } else {
      gin[2] = cil_reduce(CIL_SUM, g2, 0, 0);
    }
  }
}

cil_tensor *cil_linear(cil_tensor *x, cil_tensor *w, cil_tensor *b) {
  CIL_CHECK(w->ndim == 2, "linear: weight must be 2-D [out, in], got %s", cil_shapestr(w));
  CIL_CHECK(x->ndim >= 1, "linear: input must have at least 1 dim, got a scalar");
  int in = w->shape[1], outd = w->shape[0];
  CIL_CHECK(x->shape[x->ndim - 1] == in, "linear: input %s has %d columns, weight %s expects %d",
            cil_shapestr(x), x->shape[x->ndim - 1], cil_shapestr(w), in);
  CIL_CHECK(!b || (b->ndim == 1 && b->shape[0] == outd),
            "linear: bias %s must be [%d] for weight %s", b ? cil_shapestr(b) : "", outd,
            cil_shapestr(w));
  CIL_CHECK(in > 0, "linear: input %s has 0 features (weight %s); a layer needs at least 1 input "
            "(a hidden width of 0?)", cil_shapestr(x), cil_shapestr(w));
  int rows = (int)(x->numel / in);
  int s[CIL_MAXDIM];
  for (int k = 0; k < x->ndim; k++) s[k] = x->shape[k];
  s[x->ndim - 1] = outd;
  cil_tensor *out = cil_new(x->ndim, s);
  CIL_NONNULL(out);
  cil_sgemm_bias(0, 1, rows, outd, in, 1.0f, x->data, in, w->data, in, 0.0f, out->data, outd, b ? b->data : NULL);
  cil_record("linear", linear_backward, out, b ? 3 : 2, x, w, b);
  return out;
}

/* ensemble linear: y[e] = x[e] W[e] + b[e]; x [E,B,in] or [B,in] (shared by all members),
 * W [E,in,out], b [E,1,out] or NULL -> y [E,B,out]. The bias goes in with the GEMM (our kernel adds it
 * in its epilogue), so there is no zero-fill and no separate bias pass. */
static void elinear_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *x = nd->in[0], *w = nd->in[1];
  int E = w->shape[0], in = w->shape[1], out = w->shape[2], B = g->shape[1];
  int shared = x->ndim == 2;
  if (nd->need[0]) {
    if (!cil_grad_enabled()) { /* gx[e] = g[e] W[e]^T; a shared input sums over members */
      int s[3] = {E, B, in};
      cil_tensor *gx = shared ? cil_new(2, s + 1) : cil_new(3, s);
      if (!gx) return;
      if (shared && E == 0)
        memset(gx->data, 0, (size_t)gx->numel * sizeof(float));
      else if (shared) /* members add into one input gradient: in order, one after another */
        for (int e = 0; e < E; e++)
          cil_sgemm(0, 1, B, in, out, 1.0f, g->data + (int64_t)e * B * out, out, w->data + (int64_t)e * in * out,
                    out, e > 0 ? 1.0f : 0.0f, gx->data, in);
      else
        cil_sgemm_batch(E, 0, 1, B, in, out, 1.0f, g->data, (int64_t)B * out, out, w->data, (int64_t)in * out, out,
                    0.0f, gx->data, (int64_t)B * in, in, NULL);
      gin[0] = gx;
    } else {
      gin[0] = batch_sum_if(bmm(g, w, 0, 1), x);
    }
  }
  if (nd->need[1]) {
    cil_tensor *dst = cil_direct_grad(w);
    if (dst) { /* grad_W[e] += x[e]^T g[e] */
      cil_sgemm_batch(E, 1, 0, in, out, B, 1.0f, x->data, shared ? 0 : (int64_t)B * in, in, g->data,
                  (int64_t)B * out, out, 1.0f, dst->data, (int64_t)in * out, out, NULL);
      gin[1] = CIL_HANDLED;
    } else {
      gin[1] = bmm(x, g, 1, 0);
    }
  }
  if (nd->nin > 2 && nd->need[2]) {
    cil_tensor *dst = cil_direct_grad(nd->in[2]);
    if (dst) {
      for (int e = 0; e < E; e++)
        for (int r = 0; r < B; r++) {
          const float *gr = g->data + ((int64_t)e * B + r) * out;
          float *d = dst->data + (int64_t)e * out;
          for (int j = 0; j < out; j++) d[j] += gr[j];
        }
      gin[2] = CIL_HANDLED;
    } else {
      gin[2] = cil_reduce(CIL_SUM, g, 1, 1);
    }
  }
}

/* checked y[e] = x[e] w[e] + b[e] with act (0, or 1 + a cil_unop) applied to y; no graph */
static cil_tensor *elinear_product(cil_tensor *x, cil_tensor *w, cil_tensor *b, int act) {
  CIL_CHECK(w->ndim == 3, "ensemble linear: weight must be [E, in, out], got %s", cil_shapestr(w));
  int E = w->shape[0], in = w->shape[1], out = w->shape[2];
  CIL_CHECK((x->ndim == 3 && x->shape[0] == E && x->shape[2] == in) || (x->ndim == 2 && x->shape[1] == in),
            "ensemble linear: input %s does not fit weight %s (expected [%d, B, %d] or [B, %d])",
            cil_shapestr(x), cil_shapestr(w), E, in, in);
  CIL_CHECK(!b || (b->ndim == 3 && b->shape[0] == E && b->shape[1] == 1 && b->shape[2] == out),
            "ensemble linear: bias %s must be [%d, 1, %d]", b ? cil_shapestr(b) : "", E, out);
  CIL_CHECK(in > 0, "ensemble linear: input %s has 0 features (weight %s); a layer needs at least 1 input "
            "(a hidden width of 0?)", cil_shapestr(x), cil_shapestr(w));
  int B = x->ndim == 3 ? x->shape[1] : x->shape[0];
  int s[3] = {E, B, out};
  cil_tensor *y = cil_new(3, s);
  CIL_NONNULL(y);
  cil_sgemm_batch_act(E, 0, 0, B, out, in, 1.0f, x->data, x->ndim == 3 ? (int64_t)B * in : 0, in, w->data,
                      (int64_t)in * out, out, 0.0f, y->data, (int64_t)B * out, out, b ? b->data : NULL, act);
  return y;
}
cil_tensor *cil_elinear(cil_tensor *x, cil_tensor *w, cil_tensor *b) {
  cil_tensor *y = elinear_product(x, w, b, 0);
  cil_record("ensemble_linear", elinear_backward, y, b ? 3 : 2, x, w, b);
  return y;
}
/* act(ensemble_linear(x, w, b)) for an elementwise act: fused (cil_sgemm_batch_act) when no graph is
 * recorded, the two differentiable ops otherwise; the same bits either way */
cil_tensor *cil_elinear_act(cil_tensor *x, cil_tensor *w, cil_tensor *b, cil_unop act) {
  CIL_CHECK(act >= 0 && act < CIL_NUNARY, "ensemble linear: unknown activation %d", (int)act);
  if (cil_grad_enabled()) return cil_unary(act, cil_elinear(x, w, b));
  return elinear_product(x, w, b, 1 + (int)act);
}
