/* The epilogue both AVX-512 micro-kernels share (gemm.c for float32, gemm_bf16.c for bfloat16
 * operands): an MR x 32 float32 tile held in two zmm columns per row -> C, as
 * C[r, :nr] = alpha * tile + bias (+ beta * C). Included where AVX-512F is enabled. */
#ifndef CIL_GEMM_TILE_H
#define CIL_GEMM_TILE_H
#include <immintrin.h>

static inline __mmask16 gemm_mask16(int n) {
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

static inline __attribute__((always_inline)) CIL_KERNEL_NOSAN void gemm_tile_store(const __m512 *c0, const __m512 *c1, int mr,
                                                                  int nr, float alpha, float beta,
                                                                  const float *bias, float *C, int ldc) {
  __mmask16 m0 = gemm_mask16(nr), m1 = gemm_mask16(nr - 16);
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta), bias0 = _mm512_setzero_ps(), bias1 = bias0;
  if (bias) {
    bias0 = _mm512_maskz_loadu_ps(m0, bias);
    bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
  }
  for (int r = 0; r < mr; r++) {
    float *cr = C + (size_t)r * ldc;
    __m512 x0 = c0[r], x1 = c1[r];
    if (alpha != 1.0f) {
      x0 = _mm512_mul_ps(x0, va);
      x1 = _mm512_mul_ps(x1, va);
    }
    if (bias) {
      x0 = _mm512_add_ps(x0, bias0);
      x1 = _mm512_add_ps(x1, bias1);
    }
    if (beta == 1.0f) {
      x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, cr));
      x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, cr + 16));
    } else if (beta != 0.0f) {
      x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
      x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
    }
    _mm512_mask_storeu_ps(cr, m0, x0);
    _mm512_mask_storeu_ps(cr + 16, m1, x1);
  }
}
#endif
