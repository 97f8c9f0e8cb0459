/* The soft clamp of the dynamics ensemble's log-variance (algorithms.md §3.1), one fused op:
 *   lv = lo + softplus((hi - softplus(hi - l)) - lo),  l [..., D], lo, hi [D] (learned bounds)
 * Forward: one pass over l (16 lanes at a time on AVX-512, 8 on AVX2; the bounds' per-lane pattern repeats every
 * D vectors). Backward, from engine ops (so it is differentiable again): with u = hi - l,
 * v = hi - softplus(u) - lo:  dlv/dl = sig(v) sig(u),  dlv/dhi = sig(v) (1 - sig(u)),  dlv/dlo = 1 - sig(v). */
#include <string.h>

#include "internal.h"
#include "vmath.h"

static inline float sp_f(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

typedef struct {
  const float *L, *lo, *hi;
  float *O;
  int D;
  const float *plo, *phi; /* 16 D + 16 floats: the bounds as seen by lane k of the vector at i */
} sc_job;

static void sc_range(int64_t a, int64_t b, void *ctx) {
  sc_job *j = ctx;
  int64_t i = a;
#if defined(__AVX512F__)
  int64_t P = 16 * (int64_t)j->D;
  /* every element goes through the same vector math (a masked last vector, no scalar tail), so the
   * result does not depend on how the rows are split across threads */
  for (; i < b; i += 16) {
    int64_t p = i % P;
    __mmask16 m = b - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (b - i)) - 1);
    __m512 l = _mm512_maskz_loadu_ps(m, j->L + i), lo = _mm512_loadu_ps(j->plo + p), hi = _mm512_loadu_ps(j->phi + p);
    __m512 l1 = _mm512_sub_ps(hi, vsoftplus16(_mm512_sub_ps(hi, l)));
    _mm512_mask_storeu_ps(j->O + i, m, _mm512_add_ps(lo, vsoftplus16(_mm512_sub_ps(l1, lo))));
  }
#elif defined(__AVX2__) && defined(__FMA__)
  int64_t P = 16 * (int64_t)j->D; /* the same pattern, read 8 lanes at a time */
  for (; i < b; i += 8) {
    int64_t p = i % P;
    __m256i m = vmask8(b - i);
    __m256 l = _mm256_maskload_ps(j->L + i, m), lo = _mm256_loadu_ps(j->plo + p), hi = _mm256_loadu_ps(j->phi + p);
    __m256 l1 = _mm256_sub_ps(hi, vsoftplus8(_mm256_sub_ps(hi, l)));
    __m256 y = _mm256_add_ps(lo, vsoftplus8(_mm256_sub_ps(l1, lo)));
    if (b - i >= 8) _mm256_storeu_ps(j->O + i, y); /* (a masked store is slow on AMD cores) */
    else _mm256_maskstore_ps(j->O + i, m, y);
  }
#endif
  for (; i < b; i++) {
    int d = (int)(i % j->D);
    float l1 = j->hi[d] - sp_f(j->hi[d] - j->L[i]);
    j->O[i] = j->lo[d] + sp_f(l1 - j->lo[d]);
  }
}

static void sc_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *l = nd->in[0], *lo = nd->in[1], *hi = nd->in[2];
  cil_tensor *u = SUB(hi, l);
  cil_tensor *su = cil_unary(CIL_SIGMOID, u);
  cil_tensor *v = SUB(SUB(hi, cil_unary(CIL_SOFTPLUS, u)), lo);
  cil_tensor *sv = cil_unary(CIL_SIGMOID, v);
  cil_tensor *gsv = MUL(g, sv);
  if (nd->need[0]) gin[0] = MUL(gsv, su);
  if (nd->need[2]) gin[2] = cil_sum_to_like(SUB(gsv, MUL(gsv, su)), hi);
  if (nd->need[1]) gin[1] = cil_sum_to_like(SUB(g, gsv), lo);
}

cil_tensor *cil_soft_clamp(cil_tensor *l, cil_tensor *lo, cil_tensor *hi) {
  CIL_CHECK(l && lo && hi, "soft_clamp: tensors expected");
  CIL_CHECK(l->ndim >= 1, "soft_clamp: l must have at least one dimension, got %s", cil_shapestr(l));
  int D = l->shape[l->ndim - 1];
  CIL_CHECK(lo->ndim == 1 && lo->shape[0] == D && hi->ndim == 1 && hi->shape[0] == D,
            "soft_clamp: bounds %s and %s must be [%d], the last dimension of l %s", cil_shapestr(lo),
            cil_shapestr(hi), D, cil_shapestr(l));
  CIL_CHECK(D >= 1 && D <= 256, "soft_clamp: the last dimension must be 1..256, got %d", D);
  cil_tensor *out = cil_new_like(l);
  CIL_NONNULL(out);
  int64_t P = 16 * (int64_t)D;
  float *pat = cil_arena_alloc((size_t)(2 * (P + 16)) * sizeof(float));
  CIL_NONNULL(pat);
  for (int64_t k = 0; k < P + 16; k++) {
    pat[k] = lo->data[k % D];
    pat[P + 16 + k] = hi->data[k % D];
  }
  sc_job j = {l->data, lo->data, hi->data, out->data, D, pat, pat + P + 16};
  cil_parallel_for(l->numel, CIL_PAR_MIN, sc_range, &j);
  cil_record("soft_clamp", sc_backward, out, 3, l, lo, hi);
  return out;
}
