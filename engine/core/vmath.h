/* Vectorizable math shared by the elementwise kernels and the fused ops (elementwise.c, softclamp.c):
 * a scalar exp written so that loops over it vectorize, its 16-lane AVX-512 form, the sigmoid, and a
 * 16-lane softplus; on CPUs with AVX2 + FMA but no AVX-512, the same three 8 lanes wide.
 * Engine-internal. */
#ifndef CIL_VMATH_H
#define CIL_VMATH_H
#include <math.h>
#include <stdint.h>

/* exp for the activation kernels: Cody-Waite range reduction + Cephes' degree-6 polynomial,
 * ~1 ulp, written so that loops over it vectorize (libm's expf does not). NaN stays NaN. */
static inline float fexp(float x) {
  /* clamped so that NaN becomes a number here (the int conversion of n below must not see NaN);
   * the result for NaN is NaN again at the end */
  float xc = x > -87.33654f ? x : -87.33654f;
  xc = xc < 88.72283f ? xc : 88.72283f;
  const float shifter = 12582912.0f; /* 1.5*2^23: adding and subtracting rounds to nearest */
  float n = (xc * 1.44269504088896341f + shifter) - shifter;
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int32_t i; float f; } sc;
  sc.i = ((int32_t)n + 127) << 23;
  float y = p * sc.f;
  return x != x ? x : y;
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* 16 lanes of fexp: the same reduction and polynomial, 2^n applied with scalef (no clamp needed:
 * large |x| gives inf or 0, NaN stays NaN) */
static inline __m512 vexp16(__m512 x) {
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}
/* sigmoid: 1 / (1 + exp(-x)), exp's argument capped at 87 so the reciprocal stays finite and normal
 * (1/e^87 = 1.6e-38; at 88 it would be subnormal, which fpenv.c's flush turns into 0, and silu(-inf)
 * into -inf * 0 = NaN); the reciprocal is rcp14 refined by one Newton step (relative error ~2^-23, no
 * divide) */
static inline __m512 vsigm16(__m512 x) {
  /* and at -87 from below: vexp16(-inf) was NaN (so silu(+inf) was), and arguments below -2e13 went
   * wrong; for every other x the result is unchanged (1 + exp(-87) rounds to 1 as 1 + exp(-x) did) */
  __m512 e = _mm512_max_ps(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), _mm512_set1_ps(87.0f)),
                           _mm512_set1_ps(-87.0f));
  __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), vexp16(e));
  __m512 y = _mm512_rcp14_ps(d);
  return _mm512_mul_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(2.0f)));
}

/* log1p(t) for t in [0, 1]: y = 1 + t = 2^e m with m in [sqrt(1/2), sqrt(2)], log m from the atanh
 * series in s = (m - 1)/(m + 1) (|s| <= 0.172, five terms: error < 1e-9), plus the rounding of 1 + t
 * put back, (t - (y - 1)) / y, so small t keep their digits */
static inline __m512 vlog1p01_16(__m512 t) {
  __m512 one = _mm512_set1_ps(1.0f), y = _mm512_add_ps(one, t);
  __mmask16 big = _mm512_cmp_ps_mask(y, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
  __m512 m = _mm512_mask_mul_ps(y, big, y, _mm512_set1_ps(0.5f));
  __m512 e = _mm512_mask_blend_ps(big, _mm512_setzero_ps(), _mm512_set1_ps(0.693147180559945f));
  __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one)), s2 = _mm512_mul_ps(s, s);
  __m512 p = _mm512_set1_ps(1.0f / 9.0f);
  p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 7.0f));
  p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 5.0f));
  p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 3.0f));
  p = _mm512_fmadd_ps(p, s2, one);
  __m512 lg = _mm512_fmadd_ps(_mm512_add_ps(s, s), p, e);
  return _mm512_add_ps(lg, _mm512_div_ps(_mm512_sub_ps(t, _mm512_sub_ps(y, one)), y));
}
/* softplus(x) = max(x, 0) + log1p(exp(-|x|)); NaN stays NaN */
static inline __m512 vsoftplus16(__m512 x) {
  __m512 ax = _mm512_abs_ps(x);
  __m512 t = vexp16(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), ax), _mm512_set1_ps(-87.0f)));
  __m512 y = _mm512_add_ps(_mm512_max_ps(x, _mm512_setzero_ps()), vlog1p01_16(t));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);
}
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
/* The same functions 8 lanes at a time for CPUs with AVX2 and FMA but no AVX-512 (Zen 2/3, Intel
 * client cores): the same reduction and polynomial as fexp; 2^n is built in the exponent bits, so the
 * argument is clamped to [-87.34, 88.72] first (as fexp does; callers pass at most 87). A NaN argument
 * comes out finite here -- the callers below put NaN back where it matters. */
static inline __m256 vexp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.72283f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
  /* n in [-126, 128]: 2^n as a float is (n + 127) << 23; at n = 128 (x near 88.72) split it in two */
  __m256i ni = _mm256_cvtps_epi32(n);
  __m256i big = _mm256_cmpgt_epi32(ni, _mm256_set1_epi32(127));
  ni = _mm256_sub_epi32(ni, _mm256_and_si256(big, _mm256_set1_epi32(1)));
  __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
  p = _mm256_mul_ps(p, s);
  return _mm256_blendv_ps(p, _mm256_add_ps(p, p), _mm256_castsi256_ps(big));
}
/* sigmoid as vsigm16: exp's argument capped at 87; an exact divide (AVX2 has no 14-bit rcp to refine) */
static inline __m256 vsigm8(__m256 x) {
  __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f),
                           vexp8(_mm256_min_ps(_mm256_sub_ps(_mm256_setzero_ps(), x), _mm256_set1_ps(87.0f))));
  return _mm256_div_ps(_mm256_set1_ps(1.0f), d);
}
/* log1p(t) for t in [0, 1], as vlog1p01_16 */
static inline __m256 vlog1p01_8(__m256 t) {
  __m256 one = _mm256_set1_ps(1.0f), y = _mm256_add_ps(one, t);
  __m256 big = _mm256_cmp_ps(y, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
  __m256 m = _mm256_blendv_ps(y, _mm256_mul_ps(y, _mm256_set1_ps(0.5f)), big);
  __m256 e = _mm256_and_ps(big, _mm256_set1_ps(0.693147180559945f));
  __m256 s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one)), s2 = _mm256_mul_ps(s, s);
  __m256 p = _mm256_set1_ps(1.0f / 9.0f);
  p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / 7.0f));
  p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / 5.0f));
  p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / 3.0f));
  p = _mm256_fmadd_ps(p, s2, one);
  __m256 lg = _mm256_fmadd_ps(_mm256_add_ps(s, s), p, e);
  return _mm256_add_ps(lg, _mm256_div_ps(_mm256_sub_ps(t, _mm256_sub_ps(y, one)), y));
}
/* softplus(x) = max(x, 0) + log1p(exp(-|x|)); NaN stays NaN */
static inline __m256 vsoftplus8(__m256 x) {
  __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  __m256 t = vexp8(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), ax), _mm256_set1_ps(-87.0f)));
  __m256 y = _mm256_add_ps(_mm256_max_ps(x, _mm256_setzero_ps()), vlog1p01_8(t));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
/* lanes [0, n) of a masked load/store (n <= 0: none, n >= 8: all) */
static inline __m256i vmask8(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? n : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif
#endif
