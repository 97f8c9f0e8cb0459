/* The bfloat16 GEMM (engine/core/gemm_bf16.c) and the GEMM precision settings.
 *
 * Error bounds. u = 2^-24 (float32 unit roundoff), ub = 2^-8 (bfloat16's: 8 significant bits, round to
 * nearest even), gamma(n) = n u / (1 - n u). For one element c = alpha sum_p a_p b_p (+ bias) (+ beta c0):
 *  - against the product of the bf16-ROUNDED operands a', b' (computed in double): the products a'b' are
 *    exact in float32 (8 x 8 significant bits), so only float32 summation is left: every term goes through
 *    at most k + 3 rounded operations (k - 1 additions, the k-block stores, alpha, bias, beta), so
 *      |c - ref'| <= gamma(k + 4) (|alpha| sum|a'||b'| + |bias| + |beta c0|)
 *  - against the UNROUNDED operands: |a' - a| <= ub |a|, |b' - b| <= ub |b|, so |a'b' - ab| <= (2 ub + ub^2) |ab| and
 *      |c - ref| <= |alpha| (2 ub + ub^2) sum|a||b| + gamma(k + 4) (|alpha| (1 + ub)^2 sum|a||b| + |bias| + |beta c0|)
 *  Values below 2^-126 (float32 subnormals) become zero in the conversion and vdpbf16ps flushes subnormal
 *  products: an absolute error under k 2^-126 more, negligible for the data here (no subnormals).
 * The test asserts both bounds on every element of random shapes across the blocking edges (MR 8, NR 32,
 * KC 256, MC 64, NC 512; k odd), all four transposes, alpha/beta, the fused bias, padded leading
 * dimensions; the rounding itself against a scalar model (round to nearest even, NaN stays NaN, subnormals
 * to zero); NaN and infinity propagation; the same bits at 1, 2 and 3 threads; the fallback when the CPU is
 * taken to lack AVX512-BF16; float32 bits unchanged by the precision switch; the no-grad precision (bf16
 * under grad mode off, float32 in backward passes); and a 2-layer MLP's gradients in bf16 against double
 * with the bound propagated through the layers. No test measures time. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../engine/core/internal.h"
#include "../../engine/core/tensor.h"
#include "check.h"

static uint64_t g_s = 0x9e3779b97f4a7c15ull;
static uint64_t urand64(void) {
  g_s ^= g_s >> 12, g_s ^= g_s << 25, g_s ^= g_s >> 27;
  return g_s * 2685821657736338717ull;
}
static double urand(void) { return (double)(urand64() >> 11) / 9007199254740992.0; }
static int irand(int lo, int hi) { return lo + (int)(urand() * (hi - lo + 1)); }

static const double U = 1.0 / 16777216.0, UB = 1.0 / 256.0;
static double gam(double n) { return n * U / (1 - n * U); }

static uint32_t bits(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}
static float from_bits(uint32_t u) {
  float x;
  memcpy(&x, &u, 4);
  return x;
}
/* the scalar model of the kernel's rounding */
static float bf16r(float x) {
  uint32_t u = bits(x), e = (u >> 23) & 0xff, man = u & 0x7fffff;
  if (e == 0) return from_bits(u & 0x80000000u);                              /* zero, subnormal: signed 0 */
  if (e == 0xff) return from_bits(man ? (u | 0x00400000u) & 0xffff0000u : u); /* NaN made quiet; inf */
  u += 0x7fffu + ((u >> 16) & 1);                                             /* to nearest, ties to even */
  return from_bits(u & 0xffff0000u);
}

#define SENT 12345.0f
typedef int (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int,
                       const float *);
static int via_wrapper(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc, const float *bias) {
  cil_sgemm_bias(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
  return 1;
}
static double worst_r = 0, worst_u = 0; /* largest error / bound seen */
static int n_visible = 0;               /* cases where bf16's rounding shows (error above float32's) */

/* one random case through fn (the kernel, or the wrapper in bf16 mode); 0 if fn declined the shape */
static int one_case(gemm_fn fn, const char *name, int ta, int tb, int m, int n, int k, float alpha, float beta) {
  int lda = (ta ? m : k) + irand(0, 5), ldb = (tb ? k : n) + irand(0, 5), ldc = n + irand(0, 5);
  int arows = ta ? k : m, brows = tb ? n : k;
  float *A = malloc(sizeof(float) * arows * lda), *B = malloc(sizeof(float) * brows * ldb);
  float *C = malloc(sizeof(float) * (m + 1) * ldc), *C0 = malloc(sizeof(float) * (m + 1) * ldc), *bias = NULL;
  if (urand() < 0.3) {
    bias = malloc(sizeof(float) * n);
    for (int j = 0; j < n; j++) bias[j] = (float)(urand() * 2 - 1);
  }
  for (int i = 0; i < arows * lda; i++) A[i] = (float)(urand() * 2 - 1);
  for (int i = 0; i < brows * ldb; i++) B[i] = (float)(urand() * 2 - 1);
  for (int i = 0; i < (m + 1) * ldc; i++) {
    int col = i % ldc, row = i / ldc;
    C0[i] = C[i] = (row >= m || col >= n) ? SENT : (beta == 0.0f ? NAN : (float)(urand() * 2 - 1));
  }
  int ok = fn(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
  /* the wrapper runs shapes the kernel declines (n < 16, k = 1) in float32: then the bits are float32's */
  int thin = n < 16 || k < 2;
  if (ok && fn == via_wrapper && thin) {
    float *F = malloc(sizeof(float) * (m + 1) * ldc);
    memcpy(F, C0, sizeof(float) * (m + 1) * ldc);
    int prev = cil_set_gemm_precision(CIL_FP32);
    cil_sgemm_bias(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, F, ldc, bias);
    cil_set_gemm_precision(prev);
    CHECK(memcmp(F, C, sizeof(float) * (m + 1) * ldc) == 0, "%s thin %dx%dx%d: not float32's bits", name, m, n, k);
    free(F);
  } else if (ok) {
    double wr = 0, wu = 0, vis = 0;
    int bad_outside = 0;
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) {
        double s = 0, sr = 0, mag = 0, magr = 0;
        for (int p = 0; p < k; p++) {
          float a = ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
          float b = tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
          double ar = bf16r(a), br = bf16r(b);
          s += (double)a * b, mag += fabs((double)a * b);
          sr += ar * br, magr += fabs(ar * br);
        }
        double rest = (beta == 0.0f ? 0.0 : beta * (double)C0[(size_t)i * ldc + j]) + (bias ? bias[j] : 0.0);
        double arest = fabs(rest) + (bias ? fabs(bias[j]) * 2 : 0.0); /* |bias| + |beta c0| (over-counts once) */
        double c = C[(size_t)i * ldc + j];
        double tol_r = gam(k + 4) * (fabs(alpha) * magr + arest) + 1e-30;
        double tol_u = fabs(alpha) * (2 * UB + UB * UB) * mag + gam(k + 4) * (fabs(alpha) * (1 + UB) * (1 + UB) * mag + arest) + 1e-30;
        double er = fabs(c - (alpha * sr + rest)) / tol_r, eu = fabs(c - (alpha * s + rest)) / tol_u;
        if (!(er <= wr)) wr = er; /* NaN makes it NaN */
        if (!(eu <= wu)) wu = eu;
        double ef = fabs(c - (alpha * s + rest)) / (gam(k + 4) * (fabs(alpha) * mag + arest) + 1e-30);
        if (ef > vis) vis = ef;
      }
    for (int i = 0; i < (m + 1) * ldc; i++)
      if ((i / ldc >= m || i % ldc >= n) && C[i] != SENT) bad_outside++;
    CHECK(wr <= 1.0, "%s %c%c m=%d n=%d k=%d alpha=%g beta=%g bias=%s: error vs rounded operands %.3g x bound", name,
          ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, beta, bias ? "yes" : "no", wr);
    CHECK(wu <= 1.0, "%s %c%c m=%d n=%d k=%d alpha=%g beta=%g bias=%s: error vs unrounded %.3g x bound", name,
          ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, beta, bias ? "yes" : "no", wu);
    CHECK(bad_outside == 0, "%s %c%c m=%d n=%d k=%d: %d cells outside C written", name, ta ? 'T' : 'N', tb ? 'T' : 'N',
          m, n, k, bad_outside);
    if (wr > worst_r) worst_r = wr;
    if (wu > worst_u) worst_u = wu;
    if (vis > 1.0) n_visible++;
  }
  free(A), free(B), free(C), free(C0), free(bias);
  return ok;
}

static int rand_dim(void) { /* blocking edges +-1 (MR 8, NR 32, MC 64, KC 256, NC 512), odd, and small */
  static const int edges[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 257, 511, 512, 513};
  return urand() < 0.5 ? edges[irand(0, 21)] : irand(1, 300);
}

static void rand_fill(float *x, int n) {
  for (int i = 0; i < n; i++) x[i] = (float)(urand() * 2 - 1);
}

/* the rounding: the kernel's (cil_bf16_round) against the scalar model, bit for bit */
static void test_rounding(void) {
  enum { N = 1 << 20 };
  float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
  static const uint32_t special[] = {0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0xff7fffff,
                                     0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff, 0x7fff8000, 0x3f808000,
                                     0x3f818000, 0x3f807fff, 0x3f808001, 0x3f80ffff, 0x7f7f8000, 0x3f800000};
  int ns = (int)(sizeof special / sizeof special[0]);
  for (int i = 0; i < N; i++) {
    uint32_t u = i < ns ? special[i] : (uint32_t)urand64();
    if (i >= ns && i % 4 == 1) u = (u & 0xffff0000u) | 0x8000u;          /* exact ties */
    if (i >= ns && i % 4 == 2) u = (u & 0x807fffffu) | (127u << 23);      /* ordinary magnitudes */
    x[i] = from_bits(u);
  }
  if (!cil_bf16_round(x, y, N)) {
    printf("this CPU has no AVX512-BF16: the rounding is not testable here\n");
    free(x), free(y);
    return;
  }
  int bad = 0;
  for (int i = 0; i < N; i++)
    if (bits(y[i]) != bits(bf16r(x[i])) && bad++ < 5)
      fprintf(stderr, "  round(0x%08x) = 0x%08x, model 0x%08x\n", bits(x[i]), bits(y[i]), bits(bf16r(x[i])));
  CHECK(bad == 0, "bf16 rounding: %d of %d values differ from round-to-nearest-even", bad, N);
  CHECK(isnan(bf16r(NAN)) && bf16r(FLT_MAX) == INFINITY && bf16r(1.0f + 1.0f / 256) == 1.0f &&
            bf16r(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256,
        "scalar model: NaN, overflow, ties to even");
  free(x), free(y);
}

/* NaN and infinity in A, B or the bias reach exactly the elements they should */
static void test_nonfinite(void) {
  enum { M = 40, N = 48, K = 21 };
  float A[M * K], B[K * N], C[M * N], bias[N];
  for (int i = 0; i < M * K; i++) A[i] = (float)(0.25 + 0.5 * urand());
  for (int i = 0; i < K * N; i++) B[i] = (float)(0.25 + 0.5 * urand()) * (i % 2 ? -1 : 1);
  for (int j = 0; j < N; j++) bias[j] = 0.5f;
  A[3 * K + 5] = NAN;       /* row 3: NaN */
  A[7 * K + 20] = INFINITY; /* row 7: +-inf by B's sign in row 20 (k odd: the padded pair) */
  B[20 * N + 10] = 0.0f;    /*   except inf * 0 = NaN in column 10 */
  B[11 * N + 30] = -INFINITY; /* column 30: -inf * positive A */
  bias[40] = NAN;           /* column 40: NaN */
  for (int t = 0; t < 4; t++) {
    int ta = t & 1, tb = t >> 1;
    float At[M * K], Bt[K * N];
    for (int i = 0; i < M; i++)
      for (int p = 0; p < K; p++) At[p * M + i] = A[i * K + p];
    for (int p = 0; p < K; p++)
      for (int j = 0; j < N; j++) Bt[j * K + p] = B[p * N + j];
    int ok = cil_gemm_bf16(ta, tb, M, N, K, 1.0f, ta ? At : A, ta ? M : K, tb ? Bt : B, tb ? K : N, 0.0f, C, N, bias);
    if (!ok) return;
    int bad = 0;
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        float c = C[i * N + j];
        int want_nan = i == 3 || j == 40 || (i == 7 && (j == 10 || j == 30)); /* row 7, col 30: inf - inf */
        if (want_nan) bad += !isnan(c);
        else if (i == 7) bad += !(isinf(c) && (c > 0) == (B[20 * N + j] > 0));
        else if (j == 30) bad += !(isinf(c) && c < 0);
        else bad += !isfinite(c);
      }
    CHECK(bad == 0, "NaN/inf propagation %c%c: %d elements wrong", ta ? 'T' : 'N', tb ? 'T' : 'N', bad);
  }
}

/* the same product at 1, 2 and 3 threads: the same bits (bf16 mode, through the dispatch) */
static void thread_bits(int ta, int tb, int m, int n, int k) {
  int lda = ta ? m : k, ldb = tb ? k : n;
  float *A = malloc(sizeof(float) * m * k), *B = malloc(sizeof(float) * k * n), *bias = malloc(sizeof(float) * n),
        *C[4];
  rand_fill(A, m * k), rand_fill(B, k * n), rand_fill(bias, n);
  for (int t = 0; t < 4; t++) {
    C[t] = malloc(sizeof(float) * m * n);
    cil_set_num_threads(t < 3 ? t + 1 : 1);
    int prev = cil_set_gemm_precision(t < 3 ? CIL_BF16 : CIL_FP32);
    cil_sgemm_bias(ta, tb, m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C[t], n, bias);
    cil_set_gemm_precision(prev);
  }
  cil_set_num_threads(1);
  size_t sz = sizeof(float) * m * n;
  CHECK(memcmp(C[0], C[1], sz) == 0 && memcmp(C[0], C[2], sz) == 0,
        "bf16 %c%c %dx%dx%d: bits differ between 1, 2 and 3 threads", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k);
  if (n >= 16 && k >= 2 && cil_gemm_bf16_supported())
    CHECK(memcmp(C[0], C[3], sz) != 0, "bf16 %dx%dx%d: the same bits as float32 (bf16 not used?)", m, n, k);
  free(A), free(B), free(bias);
  for (int t = 0; t < 4; t++) free(C[t]);
}

/* float32 products before and after bf16 work, and with the CPU taken to lack AVX512-BF16 */
typedef struct { int ta, tb, m, n, k; } shape;
static const shape fp_shapes[] = {{0, 1, 256, 256, 256}, {1, 0, 256, 17, 256}, {0, 0, 256, 256, 17},
                                  {0, 1, 77, 6, 256},    {1, 1, 130, 300, 41}, {0, 0, 256, 1, 256}};
#define NFP (int)(sizeof fp_shapes / sizeof fp_shapes[0])
static float *fp_A[NFP], *fp_B[NFP], *fp_C[NFP];
static void fp_run(int s, float *C) {
  const shape *h = &fp_shapes[s];
  cil_sgemm(h->ta, h->tb, h->m, h->n, h->k, 1.0f, fp_A[s], h->ta ? h->m : h->k, fp_B[s], h->tb ? h->k : h->n, 0.0f, C,
            h->n);
}
static void fp_before(void) {
  for (int s = 0; s < NFP; s++) {
    const shape *h = &fp_shapes[s];
    fp_A[s] = malloc(sizeof(float) * h->m * h->k), fp_B[s] = malloc(sizeof(float) * h->k * h->n);
    fp_C[s] = malloc(sizeof(float) * h->m * h->n);
    rand_fill(fp_A[s], h->m * h->k), rand_fill(fp_B[s], h->k * h->n);
    fp_run(s, fp_C[s]);
  }
}
static int fp_same(const char *when) {
  int same = 1;
  for (int s = 0; s < NFP; s++) {
    const shape *h = &fp_shapes[s];
    float *C = malloc(sizeof(float) * h->m * h->n);
    fp_run(s, C);
    int eq = memcmp(C, fp_C[s], sizeof(float) * h->m * h->n) == 0;
    CHECK(eq, "float32 %dx%dx%d %s: bits changed", h->m, h->n, h->k, when);
    same &= eq;
    free(C);
  }
  return same;
}

static void test_fallback(void) {
  int prev_force = cil_gemm_bf16_force_unsupported(1);
  CHECK(!cil_gemm_bf16_supported(), "forced off: still reported supported");
  fprintf(stderr, "(a notice about the missing AVX512-BF16 is expected next)\n");
  cil_set_gemm_precision(CIL_BF16);
  CHECK(cil_gemm_precision() == CIL_FP32, "forced off: precision should fall back to fp32");
  float a[64 * 64], b[64 * 64], c[64 * 64];
  rand_fill(a, 64 * 64), rand_fill(b, 64 * 64);
  CHECK(!cil_gemm_bf16(0, 0, 64, 64, 64, 1.0f, a, 64, b, 64, 0.0f, c, 64, NULL), "forced off: kernel still ran");
  CHECK(!cil_gemm_bf16_now(), "forced off: dispatch still chooses bf16");
  fp_same("with bf16 asked for on a CPU without it");
  cil_set_gemm_precision(CIL_FP32);
  cil_gemm_bf16_force_unsupported(prev_force);
}

/* no-grad precision: bf16 under grad mode off, float32 when grad mode is on and inside backward passes */
static void test_nograd(void) {
  if (!cil_gemm_bf16_supported()) return;
  cil_set_gemm_precision(CIL_FP32);
  cil_set_gemm_nograd_precision(CIL_BF16);
  CHECK(cil_gemm_bf16_now() == 0, "grad mode on: float32 expected");
  int prev = cil_set_grad_enabled(0);
  CHECK(cil_gemm_bf16_now() == 1, "grad mode off: bf16 expected");
  cil_set_grad_enabled(prev);
  /* a linear layer's forward under no_grad equals its forward in global bf16, and its gradients (float32
   * in backward passes) equal those of a float32 run bit for bit */
  int xs[2] = {64, 40}, ws[2] = {48, 40}, bs[1] = {48};
  cil_tensor *x = cil_persistent(2, xs), *w = cil_persistent(2, ws), *b = cil_persistent(1, bs);
  rand_fill(x->data, 64 * 40), rand_fill(w->data, 48 * 40), rand_fill(b->data, 48);
  w->requires_grad = b->requires_grad = 1;
  float y_ng[64 * 48], y_bf[64 * 48], y_fp[64 * 48], g_ng[48 * 40], g_fp[48 * 40];
  for (int run = 0; run < 3; run++) { /* 0: nograd bf16, 1: all fp32, 2: global bf16 */
    cil_set_gemm_precision(run == 2 ? CIL_BF16 : CIL_FP32);
    cil_set_gemm_nograd_precision(run == 0 || run == 2 ? CIL_BF16 : CIL_FP32);
    int pg = cil_set_grad_enabled(0);
    cil_tensor *y = cil_linear(x, w, b);
    memcpy(run == 0 ? y_ng : run == 1 ? y_fp : y_bf, y->data, sizeof y_ng);
    cil_set_grad_enabled(pg);
    if (run < 2) {
      cil_tensor *l = cil_reduce(CIL_SUM, cil_unary(CIL_TANH, cil_linear(x, w, b)), CIL_ALLDIMS, 0);
      CHECK(cil_backward(l, NULL, NULL, 0, 0), "backward: %s", cil_errmsg());
      memcpy(run == 0 ? g_ng : g_fp, w->grad->data, sizeof g_ng);
      memset(w->grad->data, 0, sizeof g_ng), memset(b->grad->data, 0, sizeof(float) * 48);
    }
    cil_arena_reset();
  }
  cil_set_gemm_precision(CIL_FP32);
  cil_set_gemm_nograd_precision(CIL_FP32);
  CHECK(memcmp(y_ng, y_bf, sizeof y_ng) == 0, "no_grad bf16 forward differs from global bf16's");
  CHECK(memcmp(y_ng, y_fp, sizeof y_ng) != 0, "no_grad bf16 forward equals float32's (bf16 not used?)");
  CHECK(memcmp(g_ng, g_fp, sizeof g_ng) == 0, "gradients with a bf16 no-grad precision are not float32's bits");
  cil_release(x), cil_release(w), cil_release(b);
}

/* gradients of a 2-layer MLP in bf16 against double, within the bound propagated through the layers:
 * loss = sum(G .* (tanh(x W1^T + b1) W2^T + b2)); E(.) below is the bound on an element's error */
static void test_mlp_grad(void) {
  if (!cil_gemm_bf16_supported()) return;
  enum { Bt = 64, I = 21, H = 48, O = 16 };
  int sx[2] = {Bt, I}, s1[2] = {H, I}, sb1[1] = {H}, s2[2] = {O, H}, sb2[1] = {O}, sg[2] = {Bt, O};
  cil_tensor *x = cil_persistent(2, sx), *W1 = cil_persistent(2, s1), *b1 = cil_persistent(1, sb1),
             *W2 = cil_persistent(2, s2), *b2 = cil_persistent(1, sb2), *G = cil_persistent(2, sg);
  rand_fill(x->data, Bt * I), rand_fill(W1->data, H * I), rand_fill(b1->data, H), rand_fill(W2->data, O * H);
  rand_fill(b2->data, O), rand_fill(G->data, Bt * O);
  W1->requires_grad = b1->requires_grad = W2->requires_grad = b2->requires_grad = 1;
  double gw1[H * I], gb1[H], gw2[O * H], gb2[O], fw1[H * I];
  for (int run = 0; run < 2; run++) { /* 0: bf16, 1: float32 */
    cil_set_gemm_precision(run == 0 ? CIL_BF16 : CIL_FP32);
    cil_tensor *y = cil_linear(cil_unary(CIL_TANH, cil_linear(x, W1, b1)), W2, b2);
    cil_tensor *l = cil_reduce(CIL_SUM, cil_binary(CIL_MUL, y, G), CIL_ALLDIMS, 0);
    CHECK(l && cil_backward(l, NULL, NULL, 0, 0), "mlp backward: %s", cil_errmsg());
    for (int i = 0; i < H * I; i++) (run == 0 ? gw1 : fw1)[i] = W1->grad->data[i];
    if (run == 0) {
      for (int i = 0; i < H; i++) gb1[i] = b1->grad->data[i];
      for (int i = 0; i < O * H; i++) gw2[i] = W2->grad->data[i];
      for (int i = 0; i < O; i++) gb2[i] = b2->grad->data[i];
    }
    memset(W1->grad->data, 0, sizeof(float) * H * I), memset(b1->grad->data, 0, sizeof(float) * H);
    memset(W2->grad->data, 0, sizeof(float) * O * H), memset(b2->grad->data, 0, sizeof(float) * O);
    cil_arena_reset();
  }
  cil_set_gemm_precision(CIL_FP32);
  /* double reference and bounds */
  static double h[Bt][H], Eh[Bt][H], Edz[Bt][H], dz[Bt][H];
  const double rb = 2 * UB + UB * UB, q = (1 + UB) * (1 + UB);
  const float *X = x->data, *w1 = W1->data, *w2 = W2->data, *g = G->data;
  for (int b = 0; b < Bt; b++)
    for (int j = 0; j < H; j++) {
      double s = b1->data[j], mag = 0;
      for (int i = 0; i < I; i++) s += (double)X[b * I + i] * w1[j * I + i], mag += fabs((double)X[b * I + i] * w1[j * I + i]);
      h[b][j] = tanh(s);
      double Ez = rb * mag + gam(I + 4) * (q * mag + fabs(b1->data[j]));
      Eh[b][j] = Ez + 16 * U * fabs(h[b][j]) + 1e-30; /* tanh 1-Lipschitz, plus its own float32 rounding */
      double sd = 0, md = 0;
      for (int o = 0; o < O; o++) sd += (double)g[b * O + o] * w2[o * H + j], md += fabs((double)g[b * O + o] * w2[o * H + j]);
      double Edh = rb * md + gam(O + 4) * q * md;
      double d1 = 1 - h[b][j] * h[b][j];
      dz[b][j] = sd * d1;
      /* dz' = dh' (1 - h'^2) (1 + few u): |dz' - dz| <= E_dh + |dh| E_h (2|h| + E_h) + 4u (|dh| + E_dh) */
      Edz[b][j] = Edh + fabs(sd) * Eh[b][j] * (2 * fabs(h[b][j]) + Eh[b][j]) + 4 * U * (fabs(sd) + Edh);
    }
  double w_w1 = 0, w_b1 = 0, w_w2 = 0, w_b2 = 0, fp_vs_bf = 0;
  for (int j = 0; j < H; j++)
    for (int i = 0; i < I; i++) { /* dW1 = dz^T x: a bf16 GEMM of dz' and x */
      double s = 0, prop = 0, mag = 0;
      for (int b = 0; b < Bt; b++) {
        double xv = X[b * I + i];
        s += dz[b][j] * xv, prop += Edz[b][j] * fabs(xv), mag += (fabs(dz[b][j]) + Edz[b][j]) * fabs(xv);
      }
      double E = prop + rb * mag + gam(Bt + 4) * q * mag + 1e-30;
      double e = fabs(gw1[j * I + i] - s) / E;
      if (!(e <= w_w1)) w_w1 = e;
      if (gw1[j * I + i] != fw1[j * I + i]) fp_vs_bf = 1;
    }
  for (int j = 0; j < H; j++) { /* db1 = sum_b dz: float32 sum of dz' */
    double s = 0, E = 0, mag = 0;
    for (int b = 0; b < Bt; b++) s += dz[b][j], E += Edz[b][j], mag += fabs(dz[b][j]) + Edz[b][j];
    double e = fabs(gb1[j] - s) / (E + gam(Bt + 1) * mag + 1e-30);
    if (!(e <= w_b1)) w_b1 = e;
  }
  for (int o = 0; o < O; o++) {
    for (int j = 0; j < H; j++) { /* dW2 = G^T h: a bf16 GEMM of G and h' */
      double s = 0, prop = 0, mag = 0;
      for (int b = 0; b < Bt; b++) {
        double gv = g[b * O + o];
        s += gv * h[b][j], prop += fabs(gv) * Eh[b][j], mag += fabs(gv) * (fabs(h[b][j]) + Eh[b][j]);
      }
      double e = fabs(gw2[o * H + j] - s) / (prop + rb * mag + gam(Bt + 4) * q * mag + 1e-30);
      if (!(e <= w_w2)) w_w2 = e;
    }
    double s = 0, mag = 0; /* db2 = sum_b G: float32, no GEMM */
    for (int b = 0; b < Bt; b++) s += g[b * O + o], mag += fabs(g[b * O + o]);
    double e = fabs(gb2[o] - s) / (gam(Bt + 1) * mag + 1e-30);
    if (!(e <= w_b2)) w_b2 = e;
  }
  printf("bf16 MLP gradients, worst error / derived bound: dW1 %.3f db1 %.3f dW2 %.3f db2 %.3f\n", w_w1, w_b1, w_w2,
         w_b2);
  CHECK(w_w1 <= 1 && w_b1 <= 1 && w_w2 <= 1 && w_b2 <= 1, "bf16 MLP gradient outside its bound");
  CHECK(fp_vs_bf, "bf16 MLP gradient equals float32's bit for bit (bf16 not used?)");
  cil_release(x), cil_release(W1), cil_release(b1), cil_release(W2), cil_release(b2), cil_release(G);
}

int main(void) {
  int sup = cil_gemm_bf16_supported();
  cil_set_num_threads(1);
  printf("bf16 GEMM: %s\n", sup ? "AVX512-BF16 present" : "this CPU lacks AVX512-BF16: only the fallback is tested");
  fp_before(); /* float32 bits before any bf16 work */
  test_rounding();
  static const float alphas[] = {1.0f, 0.5f, -2.0f}, betas[] = {0.0f, 1.0f, 0.3f};
  int cases = 0, taken = 0;
  if (sup) {
    for (int it = 0; it < 700; it++) {
      int ta = irand(0, 1), tb = irand(0, 1), m = rand_dim(), n = rand_dim(), k = rand_dim();
      if (it % 5 == 0) k = 2 * irand(0, 150) + 1; /* odd k: the last pair padded with zero */
      if ((double)m * n * k > 6e6) continue;
      float alpha = alphas[irand(0, 2)], beta = betas[irand(0, 2)];
      cases++;
      taken += one_case(cil_gemm_bf16, "kernel", ta, tb, m, n, k, alpha, beta);
      if (it % 3 == 0) {
        cil_set_gemm_precision(CIL_BF16);
        one_case(via_wrapper, "cil_sgemm_bias/bf16", ta, tb, m, n, k, alpha, beta);
        cil_set_gemm_precision(CIL_FP32);
      }
    }
    printf("%d random cases, %d taken by the bf16 kernel, %d where bf16 rounding is visible; worst error / bound: "
           "%.3f (rounded operands), %.3f (unrounded)\n",
           cases, taken, n_visible, worst_r, worst_u);
    CHECK(taken > cases / 2, "the bf16 kernel took only %d of %d cases", taken, cases);
    CHECK(n_visible > taken / 4, "bf16 rounding visible in only %d of %d cases", n_visible, taken);
    float a[64], b[64], c[64];
    memset(a, 0, sizeof a), memset(b, 0, sizeof b);
    CHECK(!cil_gemm_bf16(0, 0, 4, 8, 8, 1.0f, a, 8, b, 8, 0.0f, c, 8, NULL), "an 8-wide output should be declined");
    CHECK(!cil_gemm_bf16(0, 0, 4, 16, 1, 1.0f, a, 1, b, 16, 0.0f, c, 16, NULL), "k = 1 should be declined");
    /* k = 1 and thin outputs through the dispatch in bf16 mode: float32's bits (checked in one_case) */
    cil_set_gemm_precision(CIL_BF16);
    for (int it = 0; it < 30; it++)
      one_case(via_wrapper, "cil_sgemm_bias/bf16 thin", irand(0, 1), irand(0, 1), irand(1, 300),
               it % 2 ? irand(1, 15) : irand(16, 100), it % 2 ? irand(1, 100) : 1, alphas[irand(0, 2)],
               betas[irand(0, 2)]);
    cil_set_gemm_precision(CIL_FP32);
    test_nonfinite();
    for (int it = 0; it < 16; it++) thread_bits(irand(0, 1), irand(0, 1), irand(64, 600), irand(16, 400), irand(2, 400));
    thread_bits(0, 1, 256, 256, 256);
    thread_bits(1, 0, 256, 17, 256);
  }
  fp_same("after bf16 work, precision back to fp32");
  test_fallback();
  test_nograd();
  test_mlp_grad();
  fp_same("at the end");
  return test_summary();
}
