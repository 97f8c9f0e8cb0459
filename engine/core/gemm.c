/* Our own single-threaded SGEMM, used instead of OpenBLAS for every product at least 16 columns wide
 * (see cil_gemm_own; CLEANIL_GEMM=openblas opts out): an 8 x 32 micro-kernel in zmm registers on CPUs
 * with AVX-512, a 6 x 16 one in ymm registers on CPUs with AVX2 + FMA only (Zen 2/3, Intel client
 * cores). Why: at the RL sizes we run (256 x 256 x 256 and thinner) a plain Goto-style blocked GEMM
 * reaches the core's rate, lets us fuse the bias into the epilogue, and does not depend on which kernel
 * OpenBLAS picks at run time -- one machine we measured on pinned OpenBLAS (and so PyTorch) to its AVX2
 * kernel with OPENBLAS_CORETYPE=Haswell, half of what its 512-bit FMA units do; and OpenBLAS sums an
 * element in an order that can depend on the number of rows it is given, which breaks the row-split
 * and fused-activation guarantees below (bench/ prints both rates in each run).
 *
 * Layout (row-major, BLAS semantics): C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C, beta = 0
 * overwrites C without reading it. Blocking: op(B) is packed per KC x NC block into NR-wide column
 * panels, or read where it lies when its rows are at most 512 wide and hold whole panels. op(A) is read
 * where it lies when a block's rows come in whole MR-high panels (the micro-kernel broadcasts A's
 * elements one at a time either way, so packing buys nothing there); only a ragged block is packed per
 * MC x KC into MR-high row panels (zero padded). The MR x NR tile stays in registers (16 zmm, or 12 of
 * the 16 ymm). Every element of C is summed over k in the same order whatever the row range a thread
 * is given, so splitting rows across threads keeps the bits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vmath.h" /* vmask8 for the ymm epilogue */

#if defined(__AVX512F__)
#define CIL_GEMM_ZMM 1
#elif defined(__AVX2__) && defined(__FMA__)
#define CIL_GEMM_YMM 1
#endif
#if defined(CIL_GEMM_ZMM) || defined(CIL_GEMM_YMM)
#include <immintrin.h>

#if defined(CIL_GEMM_ZMM)
#include "gemm_tile.h"
#define MR 8
#define NR 32
#define MC 64
#else
#define MR 6
#define NR 16
#define MC 48 /* a multiple of MR: whole blocks are read in place */
#endif
#define KC 256
#define NC 512
/* Operands read where they lie: on the Zen 5 cores the zmm kernel was tuned on, B's rows and A^T's
 * columns in place beat packing them; on Zen 3 (32 KiB 8-way L1) a panel strided by a power of two
 * (ldb = 256: 1 KiB apart) falls into a few cache sets and thrashes -- 256^3 ran at 63 GFLOP/s in
 * place, 82 packed -- so the ymm kernel packs them, except B for products of at most MR rows (one row
 * panel reads each B line once, so nothing is evicted before its reuse; acting on one observation) */
#if defined(CIL_GEMM_ZMM)
#define GEMM_B_IN_PLACE 1
#define GEMM_AT_IN_PLACE 1
#else
#define GEMM_B_IN_PLACE 0
#define GEMM_AT_IN_PLACE 0
#endif

/* per-thread packing buffers, allocated on first use and kept (bounded: 64 KiB + 512 KiB) */
static _Thread_local float *g_pa, *g_pb;

/* 8 x 8 transpose: row r of the input is in[r * ld ... + 7]; out[q * ldo + r] = in[r * ld + q] */
static inline void tr8x8(const float *in, size_t ld, float *out, size_t ldo) {
  __m256 r0 = _mm256_loadu_ps(in), r1 = _mm256_loadu_ps(in + ld), r2 = _mm256_loadu_ps(in + 2 * ld),
         r3 = _mm256_loadu_ps(in + 3 * ld), r4 = _mm256_loadu_ps(in + 4 * ld), r5 = _mm256_loadu_ps(in + 5 * ld),
         r6 = _mm256_loadu_ps(in + 6 * ld), r7 = _mm256_loadu_ps(in + 7 * ld);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
         t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
         t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee),
         u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee),
         u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee),
         u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(out + ldo, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(out + 2 * ldo, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(out + 3 * ldo, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(out + 4 * ldo, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(out + 5 * ldo, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(out + 6 * ldo, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(out + 7 * ldo, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* op(B)[p0 : p0 + kc, j0 : j0 + nc] -> NR-wide panels, panel-major, each kc rows of NR (zero padded) */
static void pack_b(int tb, int kc, int nc, const float *B, int ldb, int p0, int j0, float *dst) {
  for (int jp = 0; jp < nc; jp += NR) {
    int nr = nc - jp < NR ? nc - jp : NR;
    float *d = dst + (size_t)jp * kc;
    if (!tb) { /* op(B)[p, j] = B[p, j]: rows are contiguous */
      for (int p = 0; p < kc; p++) {
        const float *s = B + (size_t)(p0 + p) * ldb + j0 + jp;
        if (nr == NR) {
          memcpy(d + (size_t)p * NR, s, NR * sizeof(float));
        } else {
          for (int j = 0; j < nr; j++) d[(size_t)p * NR + j] = s[j];
          for (int j = nr; j < NR; j++) d[(size_t)p * NR + j] = 0.0f;
        }
      }
      continue;
    }
    /* op(B)[p, j] = B[j, p]: 8 x 8 transposes, then the ragged edges one by one */
    int j8 = nr & ~7, p8 = kc & ~7;
    const float *s0 = B + (size_t)(j0 + jp) * ldb + p0;
    for (int j = 0; j < j8; j += 8)
      for (int p = 0; p < p8; p += 8) tr8x8(s0 + (size_t)j * ldb + p, ldb, d + (size_t)p * NR + j, NR);
    for (int j = 0; j < NR; j++) {
      const float *s = s0 + (size_t)j * ldb;
      for (int p = j < j8 ? p8 : 0; p < kc; p++) d[(size_t)p * NR + j] = j < nr ? s[p] : 0.0f;
    }
  }
}

/* op(A)[i0 : i0 + mc, p0 : p0 + kc] -> MR-high panels, each kc columns of MR (zero padded) */
static void pack_a(int ta, int mc, int kc, const float *A, int lda, int i0, int p0, float *dst) {
  for (int ip = 0; ip < mc; ip += MR) {
    int mr = mc - ip < MR ? mc - ip : MR;
    float *d = dst + (size_t)ip * kc;
    if (ta) { /* op(A)[i, p] = A[p, i]: MR contiguous floats per p */
      for (int p = 0; p < kc; p++) {
        const float *s = A + (size_t)(p0 + p) * lda + i0 + ip;
        if (mr == MR) {
          memcpy(d + (size_t)p * MR, s, MR * sizeof(float));
        } else {
          for (int r = 0; r < mr; r++) d[(size_t)p * MR + r] = s[r];
          for (int r = mr; r < MR; r++) d[(size_t)p * MR + r] = 0.0f;
        }
      }
      continue;
    }
    const float *s0 = A + (size_t)(i0 + ip) * lda + p0;
    int p8 = MR == 8 && mr == MR ? kc & ~7 : 0; /* 8 x 8 transposes for 8-high panels */
    for (int p = 0; p < p8; p += 8) tr8x8(s0 + p, lda, d + (size_t)p * MR, MR);
    for (int r = 0; r < MR; r++)
      for (int p = p8; p < kc; p++) d[(size_t)p * MR + r] = r < mr ? s0[(size_t)r * lda + p] : 0.0f;
  }
}

#if defined(CIL_GEMM_YMM)
/* the epilogue: C[r, :nr] = alpha * tile + bias (+ beta * C); whole vectors are stored plainly (a
 * masked store is slow on AMD cores), only the ragged last one through its mask */
static inline __attribute__((always_inline)) CIL_KERNEL_NOSAN void tile_store(const __m256 *c0, const __m256 *c1, int mr,
                                                             int nr, float alpha, float beta, const float *bias,
                                                             float *C, int ldc) {
  __m256i m0 = vmask8(nr), m1 = vmask8(nr - 8);
  __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta), bias0 = _mm256_setzero_ps(), bias1 = bias0;
  if (bias) {
    bias0 = _mm256_maskload_ps(bias, m0);
    bias1 = _mm256_maskload_ps(bias + 8, m1);
  }
  for (int r = 0; r < mr; r++) {
    float *cr = C + (size_t)r * ldc;
    __m256 x0 = c0[r], x1 = c1[r];
    if (alpha != 1.0f) {
      x0 = _mm256_mul_ps(x0, va);
      x1 = _mm256_mul_ps(x1, va);
    }
    if (bias) {
      x0 = _mm256_add_ps(x0, bias0);
      x1 = _mm256_add_ps(x1, bias1);
    }
    if (beta == 1.0f) {
      x0 = _mm256_add_ps(x0, _mm256_maskload_ps(cr, m0));
      x1 = _mm256_add_ps(x1, _mm256_maskload_ps(cr + 8, m1));
    } else if (beta != 0.0f) {
      x0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr, m0), x0);
      x1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + 8, m1), x1);
    }
    if (nr >= 8) _mm256_storeu_ps(cr, x0);
    else _mm256_maskstore_ps(cr, m0, x0);
    if (nr >= 16) _mm256_storeu_ps(cr + 8, x1);
    else if (nr > 8) _mm256_maskstore_ps(cr + 8, m1, x1);
  }
}
/* C[0:mr, 0:nr] = alpha a*b + beta C (+ bias), as the zmm kernel: element (r, p) of the A panel is
 * a[r * ars + p * aps], row p of the B panel starts at b + p * bps */
static inline __attribute__((always_inline)) CIL_KERNEL_NOSAN void micro(int kc, const float *a, size_t ars, size_t aps,
                                                        const float *b, size_t bps, float *C, int ldc, int mr, int nr,
                                                        float alpha, float beta, const float *bias) {
  __m256 c0[MR], c1[MR];
  for (int r = 0; r < mr; r++) _mm_prefetch((const char *)(C + (size_t)r * ldc), _MM_HINT_T0);
  for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm256_setzero_ps();
  if (nr <= 8) { /* a last panel at most 8 wide (200 = 12 x 16 + 8): one ymm column, the same sums */
#pragma GCC unroll 4
    for (int p = 0; p < kc; p++) {
      __m256 b0 = _mm256_loadu_ps(b + (size_t)p * bps);
      for (int r = 0; r < MR; r++) c0[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + (size_t)p * aps + r * ars), b0, c0[r]);
    }
    tile_store(c0, c1, mr, nr, alpha, beta, bias, C, ldc);
    return;
  }
#pragma GCC unroll 4
  for (int p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b + (size_t)p * bps), b1 = _mm256_loadu_ps(b + (size_t)p * bps + 8);
    for (int r = 0; r < MR; r++) {
      __m256 av = _mm256_broadcast_ss(a + (size_t)p * aps + r * ars);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
  }
  tile_store(c0, c1, mr, nr, alpha, beta, bias, C, ldc);
}
#else
/* C[0:mr, 0:nr] = alpha a*b + beta C (+ bias[0:nr] on every row when bias != NULL; beta 0: C is not read).
 * Element (r, p) of the A panel is a[r * ars + p * aps]: packed (1, MR), or read in place from op(A)
 * when it is a full panel -- rows of A (lda, 1) or columns of A^T (1, lda). */
static inline __attribute__((always_inline)) CIL_KERNEL_NOSAN void micro(int kc, const float *a, size_t ars, size_t aps,
                                                        const float *b, size_t bps, float *C, int ldc, int mr, int nr,
                                                        float alpha, float beta, const float *bias) {
  __m512 c0[MR], c1[MR];
  /* ask for the output tile's lines now: they arrive while the k loop runs, instead of stalling the
   * epilogue (an update's outputs are fresh arena memory; SAC +2-3 %) */
  for (int r = 0; r < mr; r++) {
    _mm_prefetch((const char *)(C + (size_t)r * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(C + (size_t)r * ldc + 16), _MM_HINT_T0);
  }
  for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm512_setzero_ps();
  if (nr <= 16) {
    /* a last panel at most 16 columns wide (200 = 6 x 32 + 8, 36 = 32 + 4): one zmm column per row,
     * half the FMAs of the padded 32-wide tile, the same sum per element (bits unchanged) */
#pragma GCC unroll 4
    for (int p = 0; p < kc; p++) {
      __m512 b0 = _mm512_loadu_ps(b + (size_t)p * bps);
      for (int r = 0; r < MR; r++) c0[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[(size_t)p * aps + r * ars]), b0, c0[r]);
    }
    gemm_tile_store(c0, c1, mr, nr, alpha, beta, bias, C, ldc);
    return;
  }
#pragma GCC unroll 4
  for (int p = 0; p < kc; p++) {
    __m512 b0 = _mm512_loadu_ps(b + (size_t)p * bps), b1 = _mm512_loadu_ps(b + (size_t)p * bps + 16);
    for (int r = 0; r < MR; r++) {
      __m512 av = _mm512_set1_ps(a[(size_t)p * aps + r * ars]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
  }
  gemm_tile_store(c0, c1, mr, nr, alpha, beta, bias, C, ldc);
}

#endif

CIL_KERNEL_NOSAN int cil_gemm_own(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                                  const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
  if (n < 16 || k < 2 || m < 1) return 0; /* thin outputs: OpenBLAS / sgemv do better */
  if (!g_pa) {
    g_pa = aligned_alloc(64, sizeof(float) * MC * KC);
    g_pb = aligned_alloc(64, sizeof(float) * KC * NC);
    if (!g_pa || !g_pb) {
      free(g_pa);
      free(g_pb);
      g_pa = g_pb = NULL;
      return 0;
    }
  }
  for (int j0 = 0; j0 < n; j0 += NC) {
    int nc = n - j0 < NC ? n - j0 : NC;
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = k - p0 < KC ? k - p0 : KC;
      float bt = p0 == 0 ? beta : 1.0f; /* later k blocks add to what the first wrote */
      const float *bs = p0 == 0 && bias ? bias + j0 : NULL;
      /* B's rows in place when they hold whole NR-wide panels and are short: 256 x 256 GEMMs gain 2-4 %
       * and a SAC update 3-5 %; from 1024 columns on, the strided panel loses to the packed one */
      int binp = (GEMM_B_IN_PLACE || m <= MR) && !tb && nc % NR == 0 && ldb <= 512;
      if (!binp) pack_b(tb, kc, nc, B, ldb, p0, j0, g_pb);
      /* panel jp starts at b0 + jp * bstep; its row p is bps floats after row p - 1 */
      const float *b0 = binp ? B + (size_t)p0 * ldb + j0 : g_pb;
      size_t bps = binp ? (size_t)ldb : NR, bstep = binp ? 1 : (size_t)kc;
      for (int i0 = 0; i0 < m; i0 += MC) {
        int mc = m - i0 < MC ? m - i0 : MC;
        float *cb = C + (size_t)i0 * ldc + j0;
        /* whole panels: op(A) where it lies (the same sums as packed); a ragged block is packed */
        int ainp = mc % MR == 0 && (GEMM_AT_IN_PLACE || !ta);
        const float *ab = ta ? A + (size_t)p0 * lda + i0 : A + (size_t)i0 * lda + p0;
        if (!ainp) pack_a(ta, mc, kc, A, lda, i0, p0, g_pa);
        for (int jp = 0; jp < nc; jp += NR) {
          int nr = nc - jp < NR ? nc - jp : NR;
          const float *bp = b0 + jp * bstep, *bj = bs ? bs + jp : NULL;
          for (int ip = 0; ip < mc; ip += MR) {
            float *cp = cb + (size_t)ip * ldc + jp;
            if (!ainp) /* three call sites: constant strides let each inlined copy specialize */
              micro(kc, g_pa + (size_t)ip * kc, 1, MR, bp, bps, cp, ldc, mc - ip < MR ? mc - ip : MR, nr, alpha,
                    bt, bj);
            else if (ta)
              micro(kc, ab + ip, 1, (size_t)lda, bp, bps, cp, ldc, MR, nr, alpha, bt, bj);
            else
              micro(kc, ab + (size_t)ip * lda, (size_t)lda, 1, bp, bps, cp, ldc, MR, nr, alpha, bt, bj);
          }
        }
      }
    }
  }
  return 1;
}
int cil_gemm_own_available(void) { return 1; }
#if defined(CIL_GEMM_ZMM)
const char *cil_gemm_own_isa(void) { return "avx512"; }
#else
const char *cil_gemm_own_isa(void) { return "avx2"; }
#endif
#else
int cil_gemm_own(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc, const float *bias) {
  (void)bias, (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb, (void)beta,
      (void)C, (void)ldc;
  return 0;
}
int cil_gemm_own_available(void) { return 0; }
const char *cil_gemm_own_isa(void) { return "none"; }
#endif
