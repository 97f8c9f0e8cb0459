/* Shape ops: broadcasting (expand and its adjoint sum_to), reshape, transpose, narrow, cat, stack,
 * detach and clone, each with its backward rule. */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ broadcasting */
int cil_broadcast_shape(const cil_tensor *a, const cil_tensor *b, int *out) {
  int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < nd; i++) {
    int da = a->ndim - nd + i, db = b->ndim - nd + i;
    int sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
    if (sa != sb && sa != 1 && sb != 1) return -1;
    out[i] = sa == 1 ? sb : sa;
  }
  return nd;
}

/* ================================================================ expand / sum_to */
static void expand_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = cil_sum_to_like(g, nd->in[0]);
}
static void sumto_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *x = nd->in[0];
  gin[0] = cil_shape_eq(g, x) ? g : cil_expand(g, x->ndim, x->shape);
}

cil_tensor *cil_expand(cil_tensor *x, int ndim, const int *shape) {
  cil_tensor tgt = {0};
  tgt.ndim = ndim;
  for (int d = 0; d < CIL_MAXDIM; d++) tgt.shape[d] = d < ndim ? shape[d] : 1;
  int s[CIL_MAXDIM];
  int nd = cil_broadcast_shape(x, &tgt, s);
  CIL_CHECK(nd == ndim && x->ndim <= ndim, "expand: %s cannot be broadcast to %s", cil_shapestr(x),
            cil_shapestr(&tgt));
  for (int d = 0; d < ndim; d++)
    CIL_CHECK(s[d] == shape[d], "expand: %s cannot be broadcast to %s", cil_shapestr(x),
              cil_shapestr(&tgt));
  cil_tensor *out = cil_new(ndim, shape);
  CIL_NONNULL(out);
  int64_t sx[4];
  int P[4];
  cil_bstrides(x, ndim, shape, sx);
  cil_pad4(ndim, shape, P);
  if (out->numel == 0) P[0] = 0; /* nothing to do, however large the other sizes */
  int64_t o = 0;
  for (int i0 = 0; i0 < P[0]; i0++)
    for (int i1 = 0; i1 < P[1]; i1++)
      for (int i2 = 0; i2 < P[2]; i2++) {
        const float *px = x->data + i0 * sx[0] + i1 * sx[1] + i2 * sx[2];
        for (int i3 = 0; i3 < P[3]; i3++) out->data[o++] = px[i3 * sx[3]];
      }
  cil_record("expand", expand_backward, out, 1, x, NULL, NULL);
  return out;
}

cil_tensor *cil_sum_to(cil_tensor *x, int ndim, const int *shape) {
  cil_tensor tgt = {0};
  tgt.ndim = ndim;
  for (int d = 0; d < CIL_MAXDIM; d++) tgt.shape[d] = d < ndim ? shape[d] : 1;
  int s[CIL_MAXDIM];
  int nd = cil_broadcast_shape(x, &tgt, s);
  CIL_CHECK(nd == x->ndim && ndim <= x->ndim, "sum_to: %s cannot be reduced to %s",
            cil_shapestr(x), cil_shapestr(&tgt));
  for (int d = 0; d < nd; d++)
    CIL_CHECK(s[d] == x->shape[d], "sum_to: %s cannot be reduced to %s", cil_shapestr(x),
              cil_shapestr(&tgt));
  cil_tensor *out = cil_zeros(ndim, shape);
  CIL_NONNULL(out);
  int64_t so[4];
  int P[4];
  cil_bstrides(out, x->ndim, x->shape, so);
  cil_pad4(x->ndim, x->shape, P);
  if (x->numel == 0) P[0] = 0; /* nothing to add, however large the other sizes */
  int64_t i = 0;
  for (int i0 = 0; i0 < P[0]; i0++)
    for (int i1 = 0; i1 < P[1]; i1++)
      for (int i2 = 0; i2 < P[2]; i2++) {
        float *po = out->data + i0 * so[0] + i1 * so[1] + i2 * so[2];
        if (so[3])
          for (int i3 = 0; i3 < P[3]; i3++) po[i3] += x->data[i++];
        else {
          float acc = 0.0f;
          for (int i3 = 0; i3 < P[3]; i3++) acc += x->data[i++];
          po[0] += acc;
        }
      }
  cil_record("sum_to", sumto_backward, out, 1, x, NULL, NULL);
  return out;
}

/* ================================================================ shape ops */
static void reshape_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = cil_reshape(g, nd->in[0]->ndim, nd->in[0]->shape);
}
cil_tensor *cil_reshape(cil_tensor *x, int ndim, const int *shape) {
  CIL_CHECK(ndim >= 0 && ndim <= CIL_MAXDIM, "reshape: tensors have 0 to %d dims, got %d",
            CIL_MAXDIM, ndim);
  int s[CIL_MAXDIM];
  int infer = -1;
  int64_t known = 1;
  for (int d = 0; d < ndim; d++) {
    s[d] = shape[d];
    if (s[d] == -1) {
      CIL_CHECK(infer < 0, "reshape: only one dimension can be -1");
      infer = d;
    } else {
      CIL_CHECK(s[d] >= 0, "reshape: invalid size %d in dim %d (sizes are >= 0, or -1 for one inferred dim)",
                s[d], d + 1);
      known *= s[d];
      /* no product of sizes can wrap: stop once it exceeds what any tensor holds */
      CIL_CHECK(known <= CIL_MAXNUMEL, "reshape: %s has %lld elements, the sizes asked for multiply to more "
                "than %lld", cil_shapestr(x), (long long)x->numel, (long long)CIL_MAXNUMEL);
    }
  }
  if (infer >= 0) {
    CIL_CHECK(known > 0 && x->numel % known == 0, "reshape: cannot view %s with a -1 dimension",
              cil_shapestr(x));
    s[infer] = (int)(x->numel / known);
    known *= s[infer];
  }
  cil_tensor tmp = {0};
  tmp.ndim = ndim;
  for (int d = 0; d < CIL_MAXDIM; d++) tmp.shape[d] = d < ndim ? s[d] : 1;
  CIL_CHECK(known == x->numel, "reshape: %s has %lld elements, cannot be viewed as %s",
            cil_shapestr(x), (long long)x->numel, cil_shapestr(&tmp));
  cil_tensor *out = cil_alias(x, ndim, s);
  CIL_NONNULL(out);
  cil_record("reshape", reshape_backward, out, 1, x, NULL, NULL);
  return out;
}

static void transpose_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  (void)nd;
  gin[0] = cil_transpose(g);
}
cil_tensor *cil_transpose(cil_tensor *x) {
  CIL_CHECK(x->ndim == 2, "transpose: needs a 2-D tensor, got %s", cil_shapestr(x));
  int r = x->shape[0], c = x->shape[1];
  int s[2] = {c, r};
  cil_tensor *out = cil_new(2, s);
  CIL_NONNULL(out);
  const int TB = 32;
  for (int i0 = 0; i0 < r; i0 += TB)
    for (int j0 = 0; j0 < c; j0 += TB)
      for (int i = i0; i < r && i < i0 + TB; i++)
        for (int j = j0; j < c && j < j0 + TB; j++) out->data[(int64_t)j * r + i] = x->data[(int64_t)i * c + j];
  cil_record("transpose", transpose_backward, out, 1, x, NULL, NULL);
  return out;
}

/* embed g into zeros of x's shape at [start, start+len) along dim (backward of narrow) */
static cil_tensor *embed(cil_tensor *g, cil_tensor *like, int dim, int start);
static void narrow_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = embed(g, nd->in[0], nd->i[0], nd->i[1]);
}
static void embed_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = cil_narrow(g, nd->i[0], nd->i[1], nd->in[0]->shape[nd->i[0]]);
}
static void copy_block(float *dst, const float *src, int64_t outer, int64_t rows, int64_t inner,
                       int64_t dst_n, int64_t dst_off, int64_t src_n, int64_t src_off) {
  for (int64_t o = 0; o < outer; o++)
    memcpy(dst + (o * dst_n + dst_off) * inner, src + (o * src_n + src_off) * inner,
           (size_t)(rows * inner) * sizeof(float));
}
static cil_tensor *embed(cil_tensor *g, cil_tensor *like, int dim, int start) {
  cil_tensor *out = cil_zeros(like->ndim, like->shape);
  CIL_NONNULL(out);
  int64_t outer, n, inner;
  cil_split_dims(like, dim, &outer, &n, &inner);
  copy_block(out->data, g->data, outer, g->shape[dim], inner, n, start, g->shape[dim], 0);
  cil_node *nd = cil_record("narrow_backward", embed_backward, out, 1, g, NULL, NULL);
  if (nd) {
    nd->i[0] = dim;
    nd->i[1] = start;
  }
  return out;
}

cil_tensor *cil_narrow(cil_tensor *x, int dim, int start, int len) {
  int d = cil_normdim(dim, x->ndim);
  CIL_CHECK(d >= 0, "narrow: dim %d out of range for %s", dim, cil_shapestr(x));
  CIL_CHECK(start >= 0 && len >= 0 && (int64_t)start + len <= x->shape[d],
            "narrow: range [%d, %d) out of bounds for dim %d of %s", start, start + len, d + 1,
            cil_shapestr(x));
  int s[CIL_MAXDIM];
  for (int k = 0; k < x->ndim; k++) s[k] = x->shape[k];
  s[d] = len;
  cil_tensor *out;
  int64_t outer, n, inner;
  cil_split_dims(x, d, &outer, &n, &inner);
  if (outer == 1) { /* a contiguous block: view */
    out = cil_alias(x, x->ndim, s);
    CIL_NONNULL(out);
    out->data = x->data + (int64_t)start * inner;
  } else {
    out = cil_new(x->ndim, s);
    CIL_NONNULL(out);
    copy_block(out->data, x->data, outer, len, inner, len, 0, n, start);
  }
  cil_node *nd = cil_record("narrow", narrow_backward, out, 1, x, NULL, NULL);
  if (nd) {
    nd->i[0] = d;
    nd->i[1] = start;
  }
  return out;
}

/* cat: inputs beyond 3 go through a chain of binary cats so nodes stay small */
static void cat2_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  int d = nd->i[0], na = nd->in[0]->shape[d];
  if (nd->need[0]) gin[0] = cil_narrow(g, d, 0, na);
  if (nd->need[1]) gin[1] = cil_narrow(g, d, na, nd->in[1]->shape[d]);
}
cil_tensor *cil_cat(cil_tensor **xs, int n, int dim) {
  CIL_CHECK(n >= 1, "cat: needs at least one tensor");
  int nd = xs[0]->ndim;
  int d = cil_normdim(dim, nd);
  CIL_CHECK(d >= 0, "cat: dim %d out of range for %s", dim, cil_shapestr(xs[0]));
  int s[CIL_MAXDIM];
  for (int k = 0; k < nd; k++) s[k] = xs[0]->shape[k];
  s[d] = 0;
  for (int i = 0; i < n; i++) {
    CIL_CHECK(xs[i]->ndim == nd, "cat: tensor %d is %s, tensor 1 is %s (same number of dims needed)",
              i + 1, cil_shapestr(xs[i]), cil_shapestr(xs[0]));
    for (int k = 0; k < nd; k++)
      CIL_CHECK(k == d || xs[i]->shape[k] == xs[0]->shape[k],
                "cat: tensor %d is %s, tensor 1 is %s (sizes must match except in dim %d)", i + 1,
                cil_shapestr(xs[i]), cil_shapestr(xs[0]), d + 1);
    s[d] += xs[i]->shape[d];
  }
  if (n == 1) return cil_clone(xs[0]);
  int grad = 0;
  for (int i = 0; i < n; i++) grad |= xs[i]->requires_grad;
  if (n > 2 && grad && cil_grad_enabled()) { /* left fold keeps each node binary */
    cil_tensor *acc = xs[0];
    for (int i = 1; i < n; i++) {
      cil_tensor *pair[2] = {acc, xs[i]};
      acc = cil_cat(pair, 2, d);
      CIL_NONNULL(acc);
    }
    return acc;
  }
  cil_tensor *out = cil_new(nd, s);
  CIL_NONNULL(out);
  int64_t outer, tot, inner;
  cil_split_dims(out, d, &outer, &tot, &inner);
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    copy_block(out->data, xs[i]->data, outer, xs[i]->shape[d], inner, tot, off, xs[i]->shape[d], 0);
    off += xs[i]->shape[d];
  }
  if (n == 2) {
    cil_node *nn = cil_record("cat", cat2_backward, out, 2, xs[0], xs[1], NULL);
    if (nn) nn->i[0] = d;
  }
  return out;
}

cil_tensor *cil_stack(cil_tensor **xs, int n, int dim) {
  CIL_CHECK(n >= 1, "stack: needs at least one tensor");
  int nd = xs[0]->ndim;
  CIL_CHECK(nd < CIL_MAXDIM, "stack: result would have more than %d dims", CIL_MAXDIM);
  int d = cil_normdim(dim, nd + 1);
  CIL_CHECK(d >= 0, "stack: dim %d out of range", dim);
  cil_tensor **ys = cil_arena_alloc(n * sizeof *ys);
  CIL_NONNULL(ys);
  for (int i = 0; i < n; i++) {
    CIL_CHECK(cil_shape_eq(xs[i], xs[0]), "stack: tensor %d is %s, tensor 1 is %s (same shape needed)",
              i + 1, cil_shapestr(xs[i]), cil_shapestr(xs[0]));
    int s[CIL_MAXDIM], k = 0;
    for (int j = 0; j <= nd; j++) s[j] = j == d ? 1 : xs[i]->shape[k++];
    ys[i] = cil_reshape(xs[i], nd + 1, s);
    CIL_NONNULL(ys[i]);
  }
  return cil_cat(ys, n, d);
}

cil_tensor *cil_detach(cil_tensor *x) {
  cil_tensor *out = cil_alias(x, x->ndim, x->shape);
  CIL_NONNULL(out);
  return out;
}

static void clone_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  (void)nd;
  gin[0] = g;
}
cil_tensor *cil_clone(cil_tensor *x) {
  cil_tensor *out = cil_from(x->ndim, x->shape, x->data);
  CIL_NONNULL(out);
  cil_record("clone", clone_backward, out, 1, x, NULL, NULL);
  return out;
}
