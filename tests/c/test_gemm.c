/* SGEMM: our kernel (engine/core/gemm.c: AVX-512, or AVX2 + FMA) and the cil_sgemm wrapper (thread split, sgemv and
 * outer-product paths, OpenBLAS) against a double-precision reference on random shapes that cross every
 * blocking edge, all four transposes, alpha/beta cases, a fused bias, padded leading dimensions, NaN garbage in C when
 * beta = 0, and cells outside C that must stay untouched; plus the same bits at 1, 2 and 3 threads. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../engine/core/internal.h"
#include "../../engine/core/tensor.h"
#include "check.h"

static uint64_t g_s = 88172645463325252ull;
static double urand(void) { /* xorshift64*, uniform [0, 1) */
  g_s ^= g_s >> 12, g_s ^= g_s << 25, g_s ^= g_s >> 27;
  return (double)((g_s * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static int irand(int lo, int hi) { return lo + (int)(urand() * (hi - lo + 1)); }

#define SENT 12345.0f
typedef int (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int,
                       const float *);
static int via_wrapper(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc, const float *bias) {
  if (bias) cil_sgemm_bias(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
  else cil_sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  return 1;
}

/* one random case through fn; returns 0 if fn declined the shape */
static int one_case(gemm_fn fn, const char *name, int ta, int tb, int m, int n, int k, float alpha, float beta) {
  int pad = irand(0, 5), lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + irand(0, 5), ldc = n + irand(0, 5);
  int arows = ta ? k : m, brows = tb ? n : k;
  float *A = malloc(sizeof(float) * arows * lda), *B = malloc(sizeof(float) * brows * ldb);
  float *C = malloc(sizeof(float) * (m + 1) * ldc), *C0 = malloc(sizeof(float) * (m + 1) * ldc);
  float *bias = NULL;
  if (urand() < 0.3) { /* the fused bias: C = alpha AB + beta C + bias on every row */
    bias = malloc(sizeof(float) * n);
    for (int j = 0; j < n; j++) bias[j] = (float)(urand() * 2 - 1);
  }
  for (int i = 0; i < arows * lda; i++) A[i] = (float)(urand() * 2 - 1);
  for (int i = 0; i < brows * ldb; i++) B[i] = (float)(urand() * 2 - 1);
  for (int i = 0; i < (m + 1) * ldc; i++) {
    int col = i % ldc, row = i / ldc;
    C0[i] = (row >= m || col >= n) ? SENT : (beta == 0.0f ? NAN : (float)(urand() * 2 - 1));
    C[i] = C0[i];
  }
  int ok = fn(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
  if (ok) {
    double worst = 0;
    int bad_outside = 0;
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) {
        double s = 0, mag = 0;
        for (int p = 0; p < k; p++) {
          double a = ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
          double b = tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
          s += a * b, mag += fabs(a * b);
        }
        double want = alpha * s + (beta == 0.0f ? 0.0 : beta * C0[(size_t)i * ldc + j]) + (bias ? bias[j] : 0.0);
        double tol = 1e-5 * (fabs(alpha) * mag + fabs(beta) + (bias ? 1 : 0)) + 1e-6;
        double err = fabs(C[(size_t)i * ldc + j] - want) / tol;
        if (!(err <= worst)) worst = err; /* NaN makes worst NaN */
      }
    for (int i = 0; i < (m + 1) * ldc; i++)
      if ((i / ldc >= m || i % ldc >= n) && C[i] != SENT) bad_outside++;
    CHECK(worst <= 1.0, "%s %c%c m=%d n=%d k=%d alpha=%g beta=%g bias=%s lda=%d ldb=%d ldc=%d: error %.3g x tolerance",
          name, ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, beta, bias ? "yes" : "no", lda, ldb, ldc, worst);
    CHECK(bad_outside == 0, "%s %c%c m=%d n=%d k=%d: %d cells outside C written", name, ta ? 'T' : 'N',
          tb ? 'T' : 'N', m, n, k, bad_outside);
  }
  free(A), free(B), free(C), free(C0), free(bias);
  return ok;
}

static int rand_dim(void) { /* mostly small, sometimes across the kernels' blocking edges: tiles 8 x 32 and
                              * 6 x 16, row blocks of 64 and 48, k blocks of 256, column blocks of 512 */
  static const int edges[] = {1,  5,  6,  7,  8,  9,  12, 13, 15,  16,  17,  24,  31,  32,  33,
                              47, 48, 49, 63, 64, 65, 97, 255, 256, 257, 511, 512, 513};
  int ne = (int)(sizeof edges / sizeof edges[0]);
  return urand() < 0.5 ? edges[irand(0, ne - 1)] : irand(1, 300);
}

/* the same product at 1, 2, 3 threads gives the same bits (rows are split, our kernel's sums keep their
 * order; outputs narrower than 16 columns, which go to OpenBLAS, are not split) */
static void thread_bits(int ta, int tb, int m, int n, int k) {
  int lda = ta ? m : k, ldb = tb ? k : n;
  float *A = malloc(sizeof(float) * m * k), *B = malloc(sizeof(float) * k * n), *C[3];
  for (int i = 0; i < m * k; i++) A[i] = (float)(urand() * 2 - 1);
  for (int i = 0; i < k * n; i++) B[i] = (float)(urand() * 2 - 1);
  for (int t = 0; t < 3; t++) {
    C[t] = malloc(sizeof(float) * m * n);
    cil_set_num_threads(t + 1);
    cil_sgemm(ta, tb, m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C[t], n);
  }
  cil_set_num_threads(1);
  CHECK(memcmp(C[0], C[1], sizeof(float) * m * n) == 0 && memcmp(C[0], C[2], sizeof(float) * m * n) == 0,
        "%c%c %dx%dx%d: bits differ between 1, 2 and 3 threads", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k);
  free(A), free(B);
  for (int t = 0; t < 3; t++) free(C[t]);
}

int main(void) {
  static const float alphas[] = {1.0f, 0.5f, -2.0f}, betas[] = {0.0f, 1.0f, 0.3f};
  int own = cil_gemm_own_available(), taken = 0, cases = 0;
  printf("our SGEMM (%s) %s\n", cil_gemm_own_isa(), own ? "compiled in" : "not available on this CPU: only the wrapper is tested");
  for (int it = 0; it < 1500; it++) {
    int ta = irand(0, 1), tb = irand(0, 1), m = rand_dim(), n = rand_dim(), k = rand_dim();
    if ((double)m * n * k > 3e7) continue;
    float alpha = alphas[irand(0, 2)], beta = betas[irand(0, 2)];
    cases++;
    if (own) taken += one_case(cil_gemm_own, "own", ta, tb, m, n, k, alpha, beta);
    one_case(via_wrapper, "cil_sgemm", ta, tb, m, n, k, alpha, beta);
  }
  printf("%d random cases, %d taken by our kernel\n", cases, taken);
  if (own) CHECK(taken > cases / 2, "our kernel took only %d of %d cases", taken, cases);
  /* thin shapes go elsewhere, and the switch back to OpenBLAS works */
  if (own) {
    float a[64], b[64], c[64];
    memset(a, 0, sizeof a), memset(b, 0, sizeof b);
    CHECK(!cil_gemm_own(0, 0, 4, 8, 8, 1.0f, a, 8, b, 8, 0.0f, c, 8, NULL), "an 8-wide output should be declined");
    CHECK(!cil_gemm_own(0, 0, 4, 16, 1, 1.0f, a, 1, b, 16, 0.0f, c, 16, NULL), "k = 1 should be declined");
    int prev = cil_gemm_use_own(0);
    for (int it = 0; it < 100; it++)
      one_case(via_wrapper, "cil_sgemm/openblas", irand(0, 1), irand(0, 1), rand_dim(), rand_dim(), irand(1, 300),
               alphas[irand(0, 2)], betas[irand(0, 2)]);
    cil_gemm_use_own(prev);
  }
  int in_use = cil_gemm_use_own(1); /* (CLEANIL_GEMM=openblas turns it off) */
  cil_gemm_use_own(in_use);
  for (int it = 0; in_use && it < 40; it++) { /* without our kernel OpenBLAS picks kernels by size */
    int m = irand(64, 700), n = irand(1, 400), k = irand(1, 400);
    thread_bits(irand(0, 1), irand(0, 1), m, n, k);
  }
  for (int it = 0; it < 12; it++) /* thin outputs stay whole on one thread: the same bits anyway */
    thread_bits(irand(0, 1), irand(0, 1), irand(64, 2000), irand(1, 15), irand(1, 400));
  return test_summary();
}
