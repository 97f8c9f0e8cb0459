/* SGEMM dispatch: which kernel runs a product (our AVX-512 kernel in gemm.c, or OpenBLAS), the split of
 * C's rows over our thread pool, batched products for ensembles, and the CLEANIL_PROFILE_GEMM profiler.
 * The differentiable ops built on it are in linalg.c. */
#include "internal.h"
#include <cblas.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  int ta, tb, m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const float *A, *B, *bias;
  float *C;
  int bf16; /* gemm_bf16.c's kernel for the shapes it takes (decided on the calling thread) */
  int act;  /* 0, or 1 + the cil_unop applied to C after the product (an activation) */
} gemm_job;
static void sgemm_serial(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc, const float *bias);
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* Sanitizer builds (see CIL_KERNEL_NOSAN): rows rows of cols floats, ld apart, must be addressable; the
 * first poisoned byte is read through an instrumented load, so ASan reports it as any overflow */
static void check_rows(const float *p, int rows, int cols, int ld) {
  if (rows <= 0 || cols <= 0) return;
  for (int i = 0; i < rows; i++) {
    const char *bad = __asan_region_is_poisoned((void *)(p + (int64_t)i * ld), (size_t)cols * sizeof(float));
    if (bad) {
      volatile const char *v = bad;
      (void)*v;
    }
  }
}
static void gemm_check_extents(int ta, int tb, int m, int n, int k, const float *A, int lda, const float *B,
                               int ldb, const float *C, int ldc, const float *bias) {
  if (k > 0) {
    if (ta) check_rows(A, k, m, lda); else check_rows(A, m, k, lda);
    if (tb) check_rows(B, n, k, ldb); else check_rows(B, k, n, ldb);
  }
  check_rows(C, m, n, ldc);
  if (bias) check_rows(bias, 1, n, n);
}
#else
#define gemm_check_extents(...) ((void)0)
#endif
/* sgemm_serial, or the bf16 kernel first when bf16 (a float32 GEMM takes exactly sgemm_serial's path) */
static void sgemm_prec(int bf16, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
  if (m == 0 || n == 0) return;
  gemm_check_extents(ta, tb, m, n, k, A, lda, B, ldb, C, ldc, bias);
  if (bf16 && cil_gemm_bf16(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias)) return;
  sgemm_serial(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
}
/* sgemm_prec, then act on C (no-gradient forward passes: a layer and its activation in one pass). The
 * product runs in blocks of ACT_ROWS rows and each block is activated while it is still in cache (an
 * ensemble layer's output, 5000 x 200 per member, is 4 MB). Blocking rows leaves every element's sum as
 * it is (the kernels sum each element over k in one order whatever the rows around it: the thread split
 * relies on the same), so the bits are those of the product followed by the activation op. */
#define ACT_ROWS 512
static void sgemm_prec_act(int bf16, int act, int ta, int tb, int m, int n, int k, float alpha, const float *A,
                           int lda, const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
  int blk = act && n >= 16 ? ACT_ROWS : m; /* thin outputs: OpenBLAS chooses its kernel by size, one call */
  for (int i0 = 0; i0 < m; i0 += blk) {
    int mb = m - i0 < blk ? m - i0 : blk;
    float *c = C + (int64_t)i0 * ldc;
    sgemm_prec(bf16, ta, tb, mb, n, k, alpha, ta ? A + i0 : A + (int64_t)i0 * lda, lda, B, ldb, beta, c, ldc, bias);
    if (act)
      for (int i = 0; i < mb; i++) cil_unary_kernel((cil_unop)(act - 1), c + (int64_t)i * ldc, c + (int64_t)i * ldc, n);
  }
}
/* one share of C's rows (multiples of 16, so each thread's block stays aligned) */
static void gemm_task(int task, int ntasks, void *ctx) {
  gemm_job *j = ctx;
  int per = ((j->m + ntasks - 1) / ntasks + 15) & ~15;
  int i0 = task * per, i1 = i0 + per < j->m ? i0 + per : j->m;
  if (i0 >= i1) return;
  const float *a = j->ta ? j->A + i0 : j->A + (int64_t)i0 * j->lda;
  sgemm_prec_act(j->bf16, j->act, j->ta, j->tb, i1 - i0, j->n, j->k, j->alpha, a, j->lda, j->B, j->ldb, j->beta,
                 j->C + (int64_t)i0 * j->ldc, j->ldc, j->bias);
}
/* CLEANIL_PROFILE_GEMM=1: time every GEMM by shape and print the table at exit (stderr) */
typedef struct { int ta, tb, m, n, k; long calls; double secs; } gemm_prof;
static gemm_prof g_prof[256];
static int g_nprof, g_prof_on = -1;
static void gemm_prof_report(void) {
  double tot = 0, flop = 0;
  for (int i = 0; i < g_nprof; i++) tot += g_prof[i].secs;
  fprintf(stderr, "GEMM profile: %-4s %6s %6s %6s %10s %9s %8s %7s\n", "op", "m", "n", "k", "calls", "secs", "GFLOP/s", "share");
  for (int i = 0; i < g_nprof; i++) {
    gemm_prof *p = &g_prof[i];
    double f = 2.0 * p->m * p->n * p->k * p->calls;
    flop += f;
    fprintf(stderr, "GEMM profile: %c%c   %6d %6d %6d %10ld %9.3f %8.1f %6.1f%%\n", p->ta ? 'T' : 'N',
            p->tb ? 'T' : 'N', p->m, p->n, p->k, p->calls, p->secs, f / p->secs / 1e9, 100 * p->secs / tot);
  }
  fprintf(stderr, "GEMM profile: total %.3f s, %.1f GFLOP/s\n", tot, flop / tot / 1e9);
}
double cil_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static void gemm_prof_add(int ta, int tb, int m, int n, int k, int calls, double dt) {
  int i = 0;
  while (i < g_nprof && !(g_prof[i].ta == ta && g_prof[i].tb == tb && g_prof[i].m == m && g_prof[i].n == n &&
                          g_prof[i].k == k)) i++;
  if (i == g_nprof) {
    if (g_nprof == 256) return;
    g_prof[g_nprof++] = (gemm_prof){ta, tb, m, n, k, 0, 0};
  }
  g_prof[i].calls += calls;
  g_prof[i].secs += dt;
}
static void sgemm_run(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int act);
static int gemm_prof_enabled(void) {
  if (g_prof_on < 0) {
    const char *e = getenv("CLEANIL_PROFILE_GEMM");
    g_prof_on = e && *e && *e != '0';
    if (g_prof_on) atexit(gemm_prof_report);
  }
  return g_prof_on;
}
void cil_sgemm_bias(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc, const float *bias) {
  if (!gemm_prof_enabled()) {
    sgemm_run(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias, 0);
    return;
  }
  double t0 = cil_now();
  sgemm_run(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias, 0);
  gemm_prof_add(ta, tb, m, n, k, 1, cil_now() - t0);
}
void cil_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
  cil_sgemm_bias(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}
static void sgemm_run(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int act) {
  /* our own threads split C's rows; each calls single-threaded OpenBLAS (steadier than its own
   * threading at RL sizes, performance.md). Small products stay on one thread, and so do outputs
   * narrower than 16 columns (the 6- or 12-wide actor heads, < 2 % of GEMM time): OpenBLAS picks its
   * kernel for those by size, so a row split would change their bits with the thread count. */
  int bf16 = cil_gemm_bf16_now();
  if (cil_pool_size() > 1 && k > 0 && m >= 64 && n >= 16 && (double)m * n * k >= 1 << 18) {
    gemm_job j = {ta, tb, m, n, k, lda, ldb, ldc, alpha, beta, A, B, bias, C, bf16, act};
    cil_pool_run(cil_pool_size(), gemm_task, &j);
    return;
  }
  sgemm_prec_act(bf16, act, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
}
void cil_sgemm_prec_serial(int bf16, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
  sgemm_prec(bf16, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
}
int cil_gemm_profiling(void) { return gemm_prof_enabled(); }
void cil_sgemm_bias_serial(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
  gemm_check_extents(ta, tb, m, n, k, A, lda, B, ldb, C, ldc, bias);
  sgemm_serial(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
}
static _Atomic int g_own = -1; /* -1: not decided yet (the first GEMM may run on any pool thread) */
static int gemm_own_on(void) {
  int v = atomic_load_explicit(&g_own, memory_order_relaxed);
  if (v < 0) {
    const char *e = getenv("CLEANIL_GEMM");
    v = cil_gemm_own_available() && !(e && strcmp(e, "openblas") == 0);
    atomic_store_explicit(&g_own, v, memory_order_relaxed);
  }
  return v;
}
int cil_gemm_own_active(void) { return gemm_own_on(); }
int cil_gemm_use_own(int on) {
  int prev = gemm_own_on();
  atomic_store_explicit(&g_own, on && cil_gemm_own_available(), memory_order_relaxed);
  return prev;
}
/* one thread: C = alpha op(A) op(B) + beta C (+ bias on every row) with BLAS semantics (beta = 0
 * overwrites C). Our kernel adds the bias in its epilogue; the other paths get C filled with it first. */
static void sgemm_serial(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
  if (m == 0 || n == 0) return;
  if (gemm_own_on() && cil_gemm_own(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias)) return;
  if (bias) {
    for (int i = 0; i < m; i++) {
      float *c = C + (int64_t)i * ldc;
      if (beta == 0.0f) memcpy(c, bias, (size_t)n * sizeof(float));
      else
        for (int j = 0; j < n; j++) c[j] = beta * c[j] + bias[j];
    }
    beta = 1.0f;
  }
  if (k == 0) {
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) C[(int64_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(int64_t)i * ldc + j];
    return;
  }
  if (n == 1) { /* a matrix-vector product (1-output heads): sgemv, several times faster than sgemm here */
    if (beta == 0.0f) /* overwrite ourselves: not every OpenBLAS keeps NaN in y out of beta = 0 */
      for (int i = 0; i < m; i++) C[(int64_t)i * ldc] = 0.0f;
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, ta ? k : m, ta ? m : k, alpha, A, lda, B,
                tb ? 1 : ldb, beta, C, ldc);
    return;
  }
  if (k == 1) { /* an outer product (input gradient of a 1-output head): one pass over C */
    for (int i = 0; i < m; i++) {
      float ai = alpha * (ta ? A[i] : A[(int64_t)i * lda]);
      float *c = C + (int64_t)i * ldc;
      if (tb && ldb != 1) {
        for (int j = 0; j < n; j++) c[j] = (beta == 0.0f ? 0.0f : beta * c[j]) + ai * B[(int64_t)j * ldb];
      } else if (beta == 0.0f) {
        for (int j = 0; j < n; j++) c[j] = ai * B[j];
      } else {
        for (int j = 0; j < n; j++) c[j] = beta * c[j] + ai * B[j];
      }
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
              alpha, A, lda, B, ldb, beta, C, ldc);
}

/* E independent products C[e] = alpha op(A[e]) op(B[e]) + beta C[e] (strides in floats; a stride of 0
 * shares that operand). With T threads the first E - E % T members run whole, one thread per member
 * (each a full-size single-threaded GEMM: no packing repeated per row share, unlike splitting rows);
 * the remaining E % T members are row-split as usual. Outputs must not overlap (strideC > 0). */
typedef struct {
  int ta, tb, m, n, k, lda, ldb, ldc, per;
  int64_t sa, sb, sc;
  float alpha, beta;
  const float *A, *B, *bias; /* bias: one row of n per member, or NULL */
  float *C;
  int bf16, act;
} batch_job;
static void batch_task(int task, int ntasks, void *ctx) {
  batch_job *j = ctx;
  (void)ntasks;
  for (int e = task * j->per; e < (task + 1) * j->per; e++) /* the same kernels as one thread: same bits */
    sgemm_prec_act(j->bf16, j->act, j->ta, j->tb, j->m, j->n, j->k, j->alpha, j->A + e * j->sa, j->lda,
                   j->B + e * j->sb, j->ldb, j->beta, j->C + e * j->sc, j->ldc,
                   j->bias ? j->bias + (int64_t)e * j->n : NULL);
}
void cil_sgemm_batch(int E, int ta, int tb, int m, int n, int k, float alpha, const float *A, int64_t sa,
                     int lda, const float *B, int64_t sb, int ldb, float beta, float *C, int64_t sc, int ldc,
                     const float *bias) {
  cil_sgemm_batch_act(E, ta, tb, m, n, k, alpha, A, sa, lda, B, sb, ldb, beta, C, sc, ldc, bias, 0);
}
void cil_sgemm_batch_act(int E, int ta, int tb, int m, int n, int k, float alpha, const float *A, int64_t sa,
                         int lda, const float *B, int64_t sb, int ldb, float beta, float *C, int64_t sc, int ldc,
                         const float *bias, int act) {
  int T = cil_pool_size(), whole = 0;
  if (T > 1 && E >= T && m > 0 && n > 0 && (double)m * n * (k > 0 ? k : 1) >= 1 << 16) {
    whole = E - E % T;
    int prof = gemm_prof_enabled();
    double t0 = prof ? cil_now() : 0;
    batch_job j = {ta, tb, m, n, k, lda, ldb, ldc, whole / T, sa, sb, sc, alpha, beta, A, B, bias, C,
                   cil_gemm_bf16_now(), act};
    cil_pool_run(T, batch_task, &j);
    if (prof) gemm_prof_add(ta, tb, m, n, k, whole, cil_now() - t0);
  }
  for (int e = whole; e < E; e++) {
    const float *be = bias ? bias + (int64_t)e * n : NULL;
    if (!act) cil_sgemm_bias(ta, tb, m, n, k, alpha, A + e * sa, lda, B + e * sb, ldb, beta, C + e * sc, ldc, be);
    else sgemm_run(ta, tb, m, n, k, alpha, A + e * sa, lda, B + e * sb, ldb, beta, C + e * sc, ldc, be, act);
  }
}
