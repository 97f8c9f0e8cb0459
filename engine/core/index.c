/* Index ops: index_select and gather, and their scatter-add adjoints (each the other's backward). */
#include "internal.h"
#include <stdio.h>
#include <string.h>

/* ---- index_select / gather and their scatter-add adjoints ---- */
static int check_index(cil_tensor *idx, int base, int64_t n, const char *op) {
  for (int64_t i = 0; i < idx->numel; i++) {
    /* compared as a double before any conversion: NaN, +-inf and huge values are refused, not cast */
    double v = idx->data[i];
    if (!(v >= base && v < (double)n + base)) {
      char vs[32];
      snprintf(vs, sizeof vs, isnan(v) ? "NaN" : "%g", v);
      cil_seterr("%s: index %s out of range (valid %d..%lld)", op, vs, base, (long long)(n - 1 + base));
      return 0;
    }
    if (v != floor(v)) {
      cil_seterr("%s: index %g is not a whole number", op, v);
      return 0;
    }
  }
  return 1;
}

static cil_tensor *index_add(cil_tensor *g, cil_tensor *like, int dim, cil_tensor *idx, int base);
static void isel_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = index_add(g, nd->in[0], nd->i[0], nd->saved, nd->i[1]);
}
static void iadd_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = cil_index_select(g, nd->i[0], nd->saved, nd->i[1]);
}
/* record an op that carries an index tensor (index_select, gather and their adjoints) */
static void record_indexed(const char *name, cil_backfn fn, cil_tensor *out, cil_tensor *in, int dim,
                           int base, cil_tensor *idx) {
  cil_node *nd = cil_record(name, fn, out, 1, in, NULL, NULL);
  if (!nd) return;
  nd->i[0] = dim;
  nd->i[1] = base;
  nd->saved = idx;
  cil_arena_keep(idx);
}

static cil_tensor *index_add(cil_tensor *g, cil_tensor *like, int dim, cil_tensor *idx, int base) {
  cil_tensor *out = cil_zeros(like->ndim, like->shape);
  CIL_NONNULL(out);
  int64_t outer, n, inner, m = idx->numel;
  cil_split_dims(like, dim, &outer, &n, &inner);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < m; j++) {
      int64_t k = (int64_t)idx->data[j] - base;
      float *dst = out->data + (o * n + k) * inner;
      const float *src = g->data + (o * m + j) * inner;
      for (int64_t i = 0; i < inner; i++) dst[i] += src[i];
    }
  record_indexed("index_select_backward", iadd_backward, out, g, dim, base, idx);
  return out;
}

cil_tensor *cil_index_select(cil_tensor *x, int dim, cil_tensor *idx, int base) {
  int d = cil_normdim(dim, x->ndim);
  CIL_CHECK(d >= 0, "index_select: dim %d out of range for %s", dim, cil_shapestr(x));
  CIL_CHECK(idx->ndim <= 1, "index_select: index must be 1-D, got %s", cil_shapestr(idx));
  if (!check_index(idx, base, x->shape[d], "index_select")) return NULL;
  int s[CIL_MAXDIM];
  for (int k = 0; k < x->ndim; k++) s[k] = x->shape[k];
  s[d] = (int)idx->numel;
  cil_tensor *out = cil_new(x->ndim, s);
  CIL_NONNULL(out);
  int64_t outer, n, inner, m = idx->numel;
  cil_split_dims(x, d, &outer, &n, &inner);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < m; j++) {
      int64_t k = (int64_t)idx->data[j] - base;
      memcpy(out->data + (o * m + j) * inner, x->data + (o * n + k) * inner,
             (size_t)inner * sizeof(float));
    }
  record_indexed("index_select", isel_backward, out, x, d, base, idx);
  return out;
}

static cil_tensor *scatter_add(cil_tensor *g, cil_tensor *like, int dim, cil_tensor *idx, int base);
static void gather_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = scatter_add(g, nd->in[0], nd->i[0], nd->saved, nd->i[1]);
}
static void scatter_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = cil_gather(g, nd->i[0], nd->saved, nd->i[1]);
}
static cil_tensor *scatter_add(cil_tensor *g, cil_tensor *like, int dim, cil_tensor *idx, int base) {
  cil_tensor *out = cil_zeros(like->ndim, like->shape);
  CIL_NONNULL(out);
  int64_t outer, n, inner, m;
  cil_split_dims(like, dim, &outer, &n, &inner);
  m = idx->shape[dim];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < m; j++)
      for (int64_t i = 0; i < inner; i++) {
        int64_t q = (o * m + j) * inner + i;
        int64_t k = (int64_t)idx->data[q] - base;
        out->data[(o * n + k) * inner + i] += g->data[q];
      }
  record_indexed("gather_backward", scatter_backward, out, g, dim, base, idx);
  return out;
}

cil_tensor *cil_gather(cil_tensor *x, int dim, cil_tensor *idx, int base) {
  int d = cil_normdim(dim, x->ndim);
  CIL_CHECK(d >= 0, "gather: dim %d out of range for %s", dim, cil_shapestr(x));
  CIL_CHECK(idx->ndim == x->ndim, "gather: index %s must have as many dims as input %s",
            cil_shapestr(idx), cil_shapestr(x));
  for (int k = 0; k < x->ndim; k++)
    CIL_CHECK(k == d || idx->shape[k] == x->shape[k],
              "gather: index %s must match input %s except in dim %d", cil_shapestr(idx),
              cil_shapestr(x), d + 1);
  if (!check_index(idx, base, x->shape[d], "gather")) return NULL;
  cil_tensor *out = cil_new(idx->ndim, idx->shape);
  CIL_NONNULL(out);
  int64_t outer, n, inner, m = idx->shape[d];
  cil_split_dims(x, d, &outer, &n, &inner);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < m; j++)
      for (int64_t i = 0; i < inner; i++) {
        int64_t q = (o * m + j) * inner + i;
        out->data[q] = x->data[(o * n + (int64_t)idx->data[q] - base) * inner + i];
      }
  record_indexed("gather", gather_backward, out, x, d, base, idx);
  return out;
}
