/* Differentiable tensor ops. Each op: argument checks, a forward kernel, and (when recorded) a
 * backward rule written with these same ops, so gradients of gradients come for free. */
#include "internal.h"
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define NOGRAD_BEGIN int prev_grad__ = cil_set_grad_enabled(0)
#define NOGRAD_END cil_set_grad_enabled(prev_grad__)

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

/* strides (in elements) of x viewed in the padded 4-D shape of `out` (0 where broadcast) */
static void bstrides(const cil_tensor *x, int nd, const int *oshape, int64_t *st) {
  int64_t s = 1;
  for (int i = 3; i >= 0; i--) {
    int d = i - (4 - nd);             /* index into out dims */
    int dx = d - (nd - x->ndim);       /* index into x dims */
    int sz = (d >= 0 && dx >= 0) ? x->shape[dx] : 1;
    int osz = d >= 0 ? oshape[d] : 1;
    st[i] = (sz == 1 && osz != 1) ? 0 : s;
    s *= sz;
  }
}
static void pad4(int nd, const int *shape, int *p) {
  for (int i = 0; i < 4; i++) p[i] = (i - (4 - nd)) >= 0 ? shape[i - (4 - nd)] : 1;
}

/* ================================================================ binary */
static const char *binop_name[CIL_NBINARY] = {"add", "sub", "mul", "div", "pow", "minimum",
                                              "maximum", "lt", "le", "gt", "ge", "eq", "ne"};

#define BIN_KERNEL(EXPR)                                                                           \
  do {                                                                                             \
    if (same) {                                                                                    \
      for (int64_t i = 0; i < n; i++) {                                                            \
        float x = A[i], y = B[i];                                                                  \
        O[i] = (EXPR);                                                                             \
      }                                                                                            \
    } else if (bscal) {                                                                            \
      const float y = B[0];                                                                        \
      for (int64_t i = 0; i < n; i++) {                                                            \
        float x = A[i];                                                                            \
        O[i] = (EXPR);                                                                             \
      }                                                                                            \
    } else if (ascal) {                                                                            \
      const float x = A[0];                                                                        \
      for (int64_t i = 0; i < n; i++) {                                                            \
        float y = B[i];                                                                            \
        O[i] = (EXPR);                                                                             \
      }                                                                                            \
    } else {                                                                                       \
      int64_t o = 0;                                                                               \
      for (int i0 = 0; i0 < P[0]; i0++)                                                            \
        for (int i1 = 0; i1 < P[1]; i1++)                                                          \
          for (int i2 = 0; i2 < P[2]; i2++) {                                                      \
            const float *pa = A + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];                            \
            const float *pb = B + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];                            \
            if (sa[3] && sb[3])                                                                    \
              for (int i3 = 0; i3 < P[3]; i3++) {                                                  \
                float x = pa[i3], y = pb[i3];                                                      \
                O[o + i3] = (EXPR);                                                                \
              }                                                                                    \
            else                                                                                   \
              for (int i3 = 0; i3 < P[3]; i3++) {                                                  \
                float x = pa[i3 * sa[3]], y = pb[i3 * sb[3]];                                      \
                O[o + i3] = (EXPR);                                                                \
              }                                                                                    \
            o += P[3];                                                                             \
          }                                                                                        \
    }                                                                                              \
  } while (0)

static void bin_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin);

typedef struct {
  int op;
  const float *A, *B;
  float *O;
} bin_job;
/* same-shape + - * / over a range (the parallel path of cil_binary) */
static void bin_same_range(int64_t lo, int64_t hi, void *ctx) {
  bin_job *j = ctx;
  const float *A = j->A + lo, *B = j->B + lo;
  float *O = j->O + lo;
  int64_t n = hi - lo;
  switch (j->op) {
  case CIL_ADD: for (int64_t i = 0; i < n; i++) O[i] = A[i] + B[i]; break;
  case CIL_SUB: for (int64_t i = 0; i < n; i++) O[i] = A[i] - B[i]; break;
  case CIL_MUL: for (int64_t i = 0; i < n; i++) O[i] = A[i] * B[i]; break;
  default: for (int64_t i = 0; i < n; i++) O[i] = A[i] / B[i]; break;
  }
}

cil_tensor *cil_binary(cil_binop op, cil_tensor *a, cil_tensor *b) {
  int shape[CIL_MAXDIM];
  int nd = cil_broadcast_shape(a, b, shape);
  CIL_CHECK(nd >= 0, "%s: shapes %s and %s cannot be broadcast together", binop_name[op],
            cil_shapestr(a), cil_shapestr(b));
  cil_tensor *out = cil_new(nd, shape);
  CIL_NONNULL(out);
  int64_t n = out->numel;
  const float *A = a->data, *B = b->data;
  float *O = out->data;
  int same = a->numel == n && b->numel == n;
  int bscal = !same && b->numel == 1 && a->numel == n;
  int ascal = !same && !bscal && a->numel == 1 && b->numel == n;
  int64_t sa[4], sb[4];
  int P[4];
  bstrides(a, nd, shape, sa);
  bstrides(b, nd, shape, sb);
  pad4(nd, shape, P);
  if (same && n >= 2 * CIL_PAR_MIN && cil_pool_size() > 1 && op <= CIL_DIV) {
    bin_job j = {op, A, B, O};
    cil_parallel_for(n, CIL_PAR_MIN, bin_same_range, &j);
  } else
  switch (op) {
  case CIL_ADD: BIN_KERNEL(x + y); break;
  case CIL_SUB: BIN_KERNEL(x - y); break;
  case CIL_MUL: BIN_KERNEL(x * y); break;
  case CIL_DIV: BIN_KERNEL(x / y); break;
  case CIL_POW: BIN_KERNEL(y == 2.0f ? x * x : powf(x, y)); break;
  case CIL_MINIMUM: BIN_KERNEL(x < y ? x : (y < x ? y : (isnan(x) ? x : y))); break;
  case CIL_MAXIMUM: BIN_KERNEL(x > y ? x : (y > x ? y : (isnan(x) ? x : y))); break;
  case CIL_LT: BIN_KERNEL((float)(x < y)); break;
  case CIL_LE: BIN_KERNEL((float)(x <= y)); break;
  case CIL_GT: BIN_KERNEL((float)(x > y)); break;
  case CIL_GE: BIN_KERNEL((float)(x >= y)); break;
  case CIL_EQ: BIN_KERNEL((float)(x == y)); break;
  case CIL_NE: BIN_KERNEL((float)(x != y)); break;
  default: CIL_CHECK(0, "binary: unknown op %d", (int)op);
  }
  if (op <= CIL_MAXIMUM) {
    cil_node *n = cil_record(binop_name[op], bin_backward, out, 2, a, b, NULL);
    if (n) n->i[0] = op;
  }
  return out;
}

cil_tensor *cil_binary_s(cil_binop op, cil_tensor *a, float s) {
  cil_tensor *b = cil_scalar(s);
  CIL_NONNULL(b);
  return cil_binary(op, a, b);
}
cil_tensor *cil_rbinary_s(cil_binop op, float s, cil_tensor *a) {
  cil_tensor *b = cil_scalar(s);
  CIL_NONNULL(b);
  return cil_binary(op, b, a);
}

#define MUL(x, y) cil_binary(CIL_MUL, x, y)
#define DIV(x, y) cil_binary(CIL_DIV, x, y)
#define ADD(x, y) cil_binary(CIL_ADD, x, y)
#define SUB(x, y) cil_binary(CIL_SUB, x, y)

static cil_tensor *sum_to_like(cil_tensor *g, cil_tensor *x) {
  if (!g) return NULL;
  if (cil_shape_eq(g, x)) return g;
  return cil_sum_to(g, x->ndim, x->shape);
}

static void bin_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *a = nd->in[0], *b = nd->in[1];
  switch (nd->i[0]) {
  case CIL_ADD:
    if (nd->need[0]) gin[0] = sum_to_like(g, a);
    if (nd->need[1]) gin[1] = sum_to_like(g, b);
    break;
  case CIL_SUB:
    if (nd->need[0]) gin[0] = sum_to_like(g, a);
    if (nd->need[1]) gin[1] = sum_to_like(cil_unary(CIL_NEG, g), b);
    break;
  case CIL_MUL:
    if (nd->need[0]) gin[0] = sum_to_like(MUL(g, b), a);
    if (nd->need[1]) gin[1] = sum_to_like(MUL(g, a), b);
    break;
  case CIL_DIV:
    if (nd->need[0]) gin[0] = sum_to_like(DIV(g, b), a);
    if (nd->need[1]) /* d(a/b)/db = -a/b^2 */
      gin[1] = sum_to_like(cil_unary(CIL_NEG, DIV(MUL(g, a), cil_unary(CIL_SQUARE, b))), b);
    break;
  case CIL_POW: {
    if (nd->need[0]) { /* b * a^(b-1) */
      cil_tensor *bm1 = cil_binary_s(CIL_SUB, b, 1.0f);
      gin[0] = sum_to_like(MUL(g, MUL(b, cil_binary(CIL_POW, a, bm1))), a);
    }
    if (nd->need[1]) /* a^b * log a */
      gin[1] = sum_to_like(MUL(g, MUL(nd->out, cil_unary(CIL_LOG, a))), b);
    break;
  }
  case CIL_MINIMUM:
  case CIL_MAXIMUM: {
    /* weight of a: 1 where a wins, 1/2 on ties, 0 where b wins (torch splits ties evenly) */
    NOGRAD_BEGIN;
    cil_tensor *wa = cil_binary(nd->i[0] == CIL_MINIMUM ? CIL_LT : CIL_GT, a, b);
    cil_tensor *tie = cil_binary(CIL_EQ, a, b);
    wa = ADD(wa, cil_binary_s(CIL_MUL, tie, 0.5f));
    cil_tensor *wb = cil_rbinary_s(CIL_SUB, 1.0f, wa);
    NOGRAD_END;
    if (nd->need[0]) gin[0] = sum_to_like(MUL(g, wa), a);
    if (nd->need[1]) gin[1] = sum_to_like(MUL(g, wb), b);
    break;
  }
  }
}

/* ================================================================ unary */
static const char *unop_name[CIL_NUNARY] = {
    "neg",      "exp",  "log",  "sqrt",   "square", "abs",     "tanh",       "atanh",   "sigmoid",
    "softplus", "relu", "silu", "sign",   "silu_d", "silu_dd", "softplus_d", "step"};

/* exp for the activation kernels: Cody-Waite range reduction + Cephes' degree-6 polynomial,
 * ~1 ulp, written so that loops over it vectorize (libm's expf does not). NaN stays NaN. */
static inline float fexp(float x) {
  float xc = x < -87.33654f ? -87.33654f : (x > 88.72283f ? 88.72283f : x);
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
static inline float sigm(float x) { return 1.0f / (1.0f + fexp(-x)); }
static inline float softplus_f(float x) { /* torch: beta 1, threshold 20 */
  return x > 20.0f ? x : log1pf(expf(x));
}
static inline float silu_d_f(float x) {
  float s = sigm(x);
  return s * (1.0f + x * (1.0f - s));
}
static inline float silu_dd_f(float x) {
  float s = sigm(x);
  return s * (1.0f - s) * (2.0f + x * (1.0f - 2.0f * s));
}
static inline float silu_ddd_f(float x) {
  float s = sigm(x), q = 1.0f - 2.0f * s;
  return s * (1.0f - s) * (q * (3.0f + x * q) - 2.0f * x * s * (1.0f - s));
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
/* sigmoid: 1 / (1 + exp(-x)), exp's argument capped at 88 so the reciprocal stays finite; the
 * reciprocal is rcp14 refined by one Newton step (relative error ~2^-23, no divide) */
static inline __m512 vsigm16(__m512 x) {
  __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), vexp16(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), x),
                                                                       _mm512_set1_ps(88.0f))));
  __m512 y = _mm512_rcp14_ps(d);
  return _mm512_mul_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(2.0f)));
}
static void silu_fwd_vec(int64_t n, const float *X, float *O) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 x = _mm512_loadu_ps(X + i);
    _mm512_storeu_ps(O + i, _mm512_mul_ps(x, vsigm16(x)));
  }
  if (i < n) {
    __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    __m512 x = _mm512_maskz_loadu_ps(m, X + i);
    _mm512_mask_storeu_ps(O + i, m, _mm512_mul_ps(x, vsigm16(x)));
  }
}
/* O = G * silu'(X), silu'(x) = s (1 + x (1 - s)) */
static inline __m512 vsilu_bwd16(__m512 x, __m512 g) {
  __m512 s = vsigm16(x), one = _mm512_set1_ps(1.0f);
  return _mm512_mul_ps(_mm512_mul_ps(g, s), _mm512_fmadd_ps(x, _mm512_sub_ps(one, s), one));
}
static void silu_bwd_vec(int64_t n, const float *X, const float *G, float *O) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(O + i, vsilu_bwd16(_mm512_loadu_ps(X + i), _mm512_loadu_ps(G + i)));
  if (i < n) {
    __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(O + i, m, vsilu_bwd16(_mm512_maskz_loadu_ps(m, X + i), _mm512_maskz_loadu_ps(m, G + i)));
  }
}
#endif

#define UN_KERNEL(EXPR)                                                                            \
  for (int64_t i = 0; i < n; i++) {                                                                \
    float x = X[i];                                                                                \
    O[i] = (EXPR);                                                                                 \
  }                                                                                                \
  break

static void un_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin);
typedef struct {
  int op;
  const float *X;
  float *O;
} un_job;
static void unary_range(int64_t lo, int64_t hi, void *ctx) {
  un_job *j = ctx;
  int64_t n = hi - lo;
  const float *X = j->X + lo;
  float *O = j->O + lo;
  switch (j->op) {
  case CIL_NEG: UN_KERNEL(-x);
  case CIL_EXP: UN_KERNEL(expf(x));
  case CIL_LOG: UN_KERNEL(logf(x));
  case CIL_SQRT: UN_KERNEL(sqrtf(x));
  case CIL_SQUARE: UN_KERNEL(x * x);
  case CIL_ABS: UN_KERNEL(fabsf(x));
  case CIL_TANH: UN_KERNEL(tanhf(x));
  case CIL_ATANH: UN_KERNEL(atanhf(x));
  case CIL_SIGMOID: UN_KERNEL(sigm(x));
  case CIL_SOFTPLUS: UN_KERNEL(softplus_f(x));
  case CIL_RELU: UN_KERNEL(x > 0.0f ? x : 0.0f);
#if defined(__AVX512F__)
  case CIL_SILU: silu_fwd_vec(n, X, O); break;
#else
  case CIL_SILU: UN_KERNEL(x / (1.0f + fexp(-x)));
#endif
  case CIL_SIGN: UN_KERNEL((float)((x > 0.0f) - (x < 0.0f)));
  case CIL_SILU_D: UN_KERNEL(silu_d_f(x));
  case CIL_SILU_DD: UN_KERNEL(silu_dd_f(x));
  case CIL_SOFTPLUS_D: UN_KERNEL(sigm(x));
  case CIL_STEP: UN_KERNEL(x > 0.0f ? 1.0f : 0.0f);
  case CIL_NUNARY: UN_KERNEL(silu_ddd_f(x)); /* internal: silu''' */
  default: break;
  }
}
static cil_tensor *unary_raw(int op, cil_tensor *x) {
  CIL_CHECK(op >= 0 && op <= CIL_NUNARY, "unary: unknown op %d", op);
  cil_tensor *out = cil_new_like(x);
  CIL_NONNULL(out);
  un_job j = {op, x->data, out->data};
  cil_parallel_for(x->numel, CIL_PAR_MIN, unary_range, &j);
  return out;
}

cil_tensor *cil_unary(cil_unop op, cil_tensor *x) {
  CIL_CHECK(op >= 0 && op < CIL_NUNARY, "unary: unknown op %d", (int)op);
  cil_tensor *out = unary_raw(op, x);
  CIL_NONNULL(out);
  if (op != CIL_SIGN && op != CIL_STEP) {
    cil_node *n = cil_record(unop_name[op], un_backward, out, 1, x, NULL, NULL);
    if (n) n->i[0] = op;
  }
  return out;
}

/* g * silu'(x) over a range; ctx = {x, g, out} */
static void silu_bwd_range(int64_t lo, int64_t hi, void *ctx) {
  const float **b = ctx;
  const float *X = b[0], *G = b[1];
  float *O = (float *)b[2];
#if defined(__AVX512F__)
  silu_bwd_vec(hi - lo, X + lo, G + lo, O + lo);
#else
  for (int64_t i = lo; i < hi; i++) O[i] = G[i] * silu_d_f(X[i]);
#endif
}
static void un_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *x = nd->in[0], *y = nd->out, *d = NULL;
  switch (nd->i[0]) {
  case CIL_NEG: gin[0] = cil_unary(CIL_NEG, g); return;
  case CIL_EXP: d = y; break;
  case CIL_LOG: gin[0] = DIV(g, x); return;
  case CIL_SQRT: gin[0] = DIV(cil_binary_s(CIL_MUL, g, 0.5f), y); return;
  case CIL_SQUARE: d = cil_binary_s(CIL_MUL, x, 2.0f); break;
  case CIL_ABS: {
    NOGRAD_BEGIN;
    d = cil_unary(CIL_SIGN, x);
    NOGRAD_END;
    break;
  }
  case CIL_TANH: d = cil_rbinary_s(CIL_SUB, 1.0f, cil_unary(CIL_SQUARE, y)); break;
  case CIL_ATANH: gin[0] = DIV(g, cil_rbinary_s(CIL_SUB, 1.0f, cil_unary(CIL_SQUARE, x))); return;
  case CIL_SIGMOID:
  case CIL_SOFTPLUS_D: {
    cil_tensor *s = nd->i[0] == CIL_SIGMOID ? y : cil_unary(CIL_SIGMOID, x);
    d = MUL(s, cil_rbinary_s(CIL_SUB, 1.0f, s));
    break;
  }
  case CIL_SOFTPLUS: d = cil_unary(CIL_SIGMOID, x); break;
  case CIL_RELU: {
    NOGRAD_BEGIN;
    d = cil_unary(CIL_STEP, x);
    NOGRAD_END;
    break;
  }
  case CIL_SILU:
    if (!cil_grad_enabled()) { /* first-order pass: one fused loop, g * silu'(x) */
      cil_tensor *o = cil_new_like(x);
      if (!o) return;
      const float *bufs[3] = {x->data, g->data, o->data};
      cil_parallel_for(x->numel, CIL_PAR_MIN, silu_bwd_range, (void *)bufs);
      gin[0] = o;
      return;
    }
    d = cil_unary(CIL_SILU_D, x);
    break;
  case CIL_SILU_D: d = cil_unary(CIL_SILU_DD, x); break;
  case CIL_SILU_DD: {
    NOGRAD_BEGIN; /* third derivative: exact values, not differentiable further */
    d = unary_raw(CIL_NUNARY, x);
    NOGRAD_END;
    break;
  }
  }
  gin[0] = MUL(g, d);
}

/* ---- leaky_relu, clamp, affine: unary with scalar parameters ---- */
static void leaky_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  NOGRAD_BEGIN;
  cil_tensor *d = cil_affine(cil_unary(CIL_STEP, nd->in[0]), 1.0f - nd->f[0], nd->f[0]);
  NOGRAD_END;
  gin[0] = MUL(g, d);
}
cil_tensor *cil_leaky_relu(cil_tensor *x, float slope) {
  cil_tensor *out = cil_new_like(x);
  CIL_NONNULL(out);
  for (int64_t i = 0; i < x->numel; i++) {
    float v = x->data[i];
    out->data[i] = v > 0.0f ? v : slope * v;
  }
  cil_node *n = cil_record("leaky_relu", leaky_backward, out, 1, x, NULL, NULL);
  if (n) n->f[0] = slope;
  return out;
}

static void clamp_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *x = nd->in[0];
  cil_tensor *m = cil_new_like(x);
  if (!m) return;
  float lo = nd->f[0], hi = nd->f[1];
  for (int64_t i = 0; i < x->numel; i++) m->data[i] = (x->data[i] >= lo && x->data[i] <= hi);
  gin[0] = MUL(g, m);
}
cil_tensor *cil_clamp(cil_tensor *x, float lo, float hi) {
  CIL_CHECK(!(lo > hi), "clamp: min %g is greater than max %g", lo, hi);
  cil_tensor *out = cil_new_like(x);
  CIL_NONNULL(out);
  for (int64_t i = 0; i < x->numel; i++) {
    float v = x->data[i];
    out->data[i] = v < lo ? lo : (v > hi ? hi : v);
  }
  cil_node *n = cil_record("clamp", clamp_backward, out, 1, x, NULL, NULL);
  if (n) {
    n->f[0] = lo;
    n->f[1] = hi;
  }
  return out;
}

static void affine_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = cil_affine(g, nd->f[0], 0.0f);
}
cil_tensor *cil_affine(cil_tensor *x, float scale, float shift) {
  cil_tensor *out = cil_new_like(x);
  CIL_NONNULL(out);
  for (int64_t i = 0; i < x->numel; i++) out->data[i] = scale * x->data[i] + shift;
  cil_node *n = cil_record("affine", affine_backward, out, 1, x, NULL, NULL);
  if (n) n->f[0] = scale;
  return out;
}

/* ---- where(cond, a, b) = cond*a + (1-cond)*b with cond a 0/1 mask (no grad into cond) ---- */
static void where_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *c = nd->in[0];
  cil_tensor *z = cil_scalar(0.0f);
  if (!z) return;
  if (nd->need[1]) gin[1] = sum_to_like(cil_where(c, g, z), nd->in[1]);
  if (nd->need[2]) gin[2] = sum_to_like(cil_where(c, z, g), nd->in[2]);
  nd->need[0] = 0;
}
cil_tensor *cil_where(cil_tensor *cond, cil_tensor *a, cil_tensor *b) {
  int s1[CIL_MAXDIM], s2[CIL_MAXDIM];
  int n1 = cil_broadcast_shape(a, b, s1);
  CIL_CHECK(n1 >= 0, "where: shapes %s and %s cannot be broadcast together", cil_shapestr(a),
            cil_shapestr(b));
  cil_tensor ab = {0};
  ab.ndim = n1;
  for (int d = 0; d < CIL_MAXDIM; d++) ab.shape[d] = d < n1 ? s1[d] : 1;
  int nd = cil_broadcast_shape(cond, &ab, s2);
  CIL_CHECK(nd >= 0, "where: condition %s cannot be broadcast to %s", cil_shapestr(cond),
            cil_shapestr(&ab));
  cil_tensor *out = cil_new(nd, s2);
  CIL_NONNULL(out);
  int64_t sc[4], sa[4], sb[4];
  int P[4];
  bstrides(cond, nd, s2, sc);
  bstrides(a, nd, s2, sa);
  bstrides(b, nd, s2, sb);
  pad4(nd, s2, P);
  int64_t o = 0;
  for (int i0 = 0; i0 < P[0]; i0++)
    for (int i1 = 0; i1 < P[1]; i1++)
      for (int i2 = 0; i2 < P[2]; i2++)
        for (int i3 = 0; i3 < P[3]; i3++, o++) {
          float c = cond->data[i0 * sc[0] + i1 * sc[1] + i2 * sc[2] + i3 * sc[3]];
          out->data[o] = c != 0.0f ? a->data[i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3]]
                                   : b->data[i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3]];
        }
  cil_record("where", where_backward, out, 3, cond, a, b);
  return out;
}

/* ================================================================ expand / sum_to */
static void expand_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  gin[0] = sum_to_like(g, nd->in[0]);
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
  bstrides(x, ndim, shape, sx);
  pad4(ndim, shape, P);
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
  bstrides(out, x->ndim, x->shape, so);
  pad4(x->ndim, x->shape, P);
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
      CIL_CHECK(s[d] >= 0, "reshape: invalid size %d", s[d]);
      known *= s[d];
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

/* ---- index_select / gather and their scatter-add adjoints ---- */
static int check_index(cil_tensor *idx, int base, int64_t n, const char *op) {
  for (int64_t i = 0; i < idx->numel; i++) {
    float v = idx->data[i];
    int64_t k = (int64_t)v - base;
    if (v != floorf(v) || k < 0 || k >= n) {
      cil_seterr("%s: index %g out of range (valid %d..%lld)", op, v, base, (long long)(n - 1 + base));
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

/* ================================================================ reductions */
static const char *reduce_name[CIL_NREDUCE] = {"sum", "mean", "max", "min", "logsumexp"};

/* g (reduced shape) broadcast back to x's shape */
static cil_tensor *unreduce(cil_tensor *g, cil_tensor *x, int dim) {
  if (dim < 0) return cil_expand(g, x->ndim, x->shape);
  int s[CIL_MAXDIM];
  for (int k = 0; k < x->ndim; k++) s[k] = k == dim ? 1 : x->shape[k];
  cil_tensor *gk = cil_reshape(g, x->ndim, s);
  CIL_NONNULL(gk);
  return cil_expand(gk, x->ndim, x->shape);
}

static void reduce_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *x = nd->in[0];
  int dim = nd->i[1];
  switch (nd->i[0]) {
  case CIL_SUM: gin[0] = unreduce(g, x, dim); break;
  case CIL_MEAN: {
    int64_t n = dim < 0 ? x->numel : x->shape[dim];
    gin[0] = unreduce(cil_affine(g, 1.0f / (float)n, 0.0f), x, dim);
    break;
  }
  case CIL_MAX:
  case CIL_MIN: { /* ties split evenly, like torch.amax */
    NOGRAD_BEGIN;
    cil_tensor *m = cil_binary(CIL_EQ, x, unreduce(nd->out, x, dim));
    cil_tensor *cnt = cil_reduce(CIL_SUM, m, dim < 0 ? CIL_ALLDIMS : dim, 0);
    cil_tensor *w = DIV(m, unreduce(cnt, x, dim));
    NOGRAD_END;
    gin[0] = MUL(unreduce(g, x, dim), w);
    break;
  }
  case CIL_LOGSUMEXP:
    gin[0] = MUL(unreduce(g, x, dim), cil_unary(CIL_EXP, SUB(x, unreduce(nd->out, x, dim))));
    break;
  }
}

cil_tensor *cil_reduce(cil_reduce_op op, cil_tensor *x, int dim, int keepdim) {
  int d = -1;
  int64_t outer = 1, n = x->numel, inner = 1;
  int s[CIL_MAXDIM], nd = 0;
  if (dim != CIL_ALLDIMS) {
    d = cil_normdim(dim, x->ndim);
    CIL_CHECK(d >= 0, "%s: dim %d out of range for %s", reduce_name[op], dim, cil_shapestr(x));
    cil_split_dims(x, d, &outer, &n, &inner);
    for (int k = 0; k < x->ndim; k++) s[nd++] = x->shape[k];
    s[d] = 1;
    if (!keepdim) {
      for (int k = d; k < x->ndim - 1; k++) s[k] = s[k + 1];
      nd--;
    }
  }
  CIL_CHECK(n > 0 || op == CIL_SUM || op == CIL_MEAN, "%s: cannot reduce an empty dimension of %s",
            reduce_name[op], cil_shapestr(x));
  cil_tensor *out = cil_new(nd, s);
  CIL_NONNULL(out);
  for (int64_t o = 0; o < outer; o++) {
    const float *px = x->data + o * n * inner;
    float *po = out->data + o * inner;
    for (int64_t i = 0; i < inner; i++) {
      double acc;
      switch (op) {
      case CIL_SUM:
      case CIL_MEAN:
        if (inner > 1) { /* handled below, row by row */
          po[i] = 0.0f;
          break;
        }
        acc = 0.0;
        for (int64_t j = 0; j < n; j++) acc += px[j * inner + i];
        po[i] = (float)(op == CIL_MEAN ? (n ? acc / (double)n : NAN) : acc);
        break;
      case CIL_MAX:
      case CIL_MIN: {
        float m = px[i];
        for (int64_t j = 1; j < n; j++) {
          float v = px[j * inner + i];
          if (isnan(v) || (op == CIL_MAX ? v > m : v < m)) m = v;
          if (isnan(m)) break;
        }
        po[i] = m;
        break;
      }
      case CIL_LOGSUMEXP: {
        float m = -INFINITY;
        for (int64_t j = 0; j < n; j++) m = fmaxf(m, px[j * inner + i]);
        if (isinf(m)) {
          po[i] = m;
          break;
        }
        acc = 0.0;
        for (int64_t j = 0; j < n; j++) acc += exp((double)px[j * inner + i] - m);
        po[i] = (float)(m + log(acc));
        break;
      }
      default: break;
      }
    }
    if ((op == CIL_SUM || op == CIL_MEAN) && inner > 1) { /* contiguous rows: vectorizes */
      for (int64_t j = 0; j < n; j++) {
        const float *row = px + j * inner;
        for (int64_t i = 0; i < inner; i++) po[i] += row[i];
      }
      if (op == CIL_MEAN) {
        float f = n ? 1.0f / (float)n : NAN;
        for (int64_t i = 0; i < inner; i++) po[i] *= f;
      }
    }
  }
  cil_node *node = cil_record(reduce_name[op], reduce_backward, out, 1, x, NULL, NULL);
  if (node) {
    node->i[0] = op;
    node->i[1] = d;
  }
  return out;
}

cil_tensor *cil_argmax(cil_tensor *x, int dim, int keepdim, int base, int argmin) {
  const char *name = argmin ? "argmin" : "argmax";
  int d = -1;
  int64_t outer = 1, n = x->numel, inner = 1;
  int s[CIL_MAXDIM], nd = 0;
  if (dim != CIL_ALLDIMS) {
    d = cil_normdim(dim, x->ndim);
    CIL_CHECK(d >= 0, "%s: dim %d out of range for %s", name, dim, cil_shapestr(x));
    cil_split_dims(x, d, &outer, &n, &inner);
    for (int k = 0; k < x->ndim; k++) s[nd++] = x->shape[k];
    s[d] = 1;
    if (!keepdim) {
      for (int k = d; k < x->ndim - 1; k++) s[k] = s[k + 1];
      nd--;
    }
  }
  CIL_CHECK(n > 0, "%s: empty dimension in %s", name, cil_shapestr(x));
  cil_tensor *out = cil_new(nd, s);
  CIL_NONNULL(out);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const float *px = x->data + o * n * inner + i;
      int64_t best = 0;
      for (int64_t j = 1; j < n; j++) {
        float v = px[j * inner], b = px[best * inner];
        if (isnan(b)) break;
        if (isnan(v) || (argmin ? v < b : v > b)) best = j;
      }
      out->data[o * inner + i] = (float)(best + base);
    }
  return out;
}

cil_tensor *cil_norm(cil_tensor *x, int dim, int keepdim) {
  cil_tensor *sq = cil_unary(CIL_SQUARE, x);
  CIL_NONNULL(sq);
  cil_tensor *s = cil_reduce(CIL_SUM, sq, dim, keepdim);
  CIL_NONNULL(s);
  return cil_unary(CIL_SQRT, s);
}

/* ================================================================ matmul */
#include <cblas.h>
typedef struct {
  int ta, tb, m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const float *A, *B, *bias;
  float *C;
} gemm_job;
static void sgemm_serial(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc, const float *bias);
/* one share of C's rows (multiples of 16, so each thread's block stays aligned) */
static void gemm_task(int task, int ntasks, void *ctx) {
  gemm_job *j = ctx;
  int per = ((j->m + ntasks - 1) / ntasks + 15) & ~15;
  int i0 = task * per, i1 = i0 + per < j->m ? i0 + per : j->m;
  if (i0 >= i1) return;
  const float *a = j->ta ? j->A + i0 : j->A + (int64_t)i0 * j->lda;
  sgemm_serial(j->ta, j->tb, i1 - i0, j->n, j->k, j->alpha, a, j->lda, j->B, j->ldb, j->beta,
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
                      const float *B, int ldb, float beta, float *C, int ldc, const float *bias);
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
    sgemm_run(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
    return;
  }
  double t0 = cil_now();
  sgemm_run(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
  gemm_prof_add(ta, tb, m, n, k, 1, cil_now() - t0);
}
void cil_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
  cil_sgemm_bias(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}
static void sgemm_run(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
  /* our own threads split C's rows; each calls single-threaded OpenBLAS (steadier than its own
   * threading at RL sizes, performance.md). Small products stay on one thread, and so do outputs
   * narrower than 16 columns (the 6- or 12-wide actor heads, < 2 % of GEMM time): OpenBLAS picks its
   * kernel for those by size, so a row split would change their bits with the thread count. */
  if (cil_pool_size() > 1 && k > 0 && m >= 64 && n >= 16 && (double)m * n * k >= 1 << 18) {
    gemm_job j = {ta, tb, m, n, k, lda, ldb, ldc, alpha, beta, A, B, bias, C};
    cil_pool_run(cil_pool_size(), gemm_task, &j);
    return;
  }
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
} batch_job;
static void batch_task(int task, int ntasks, void *ctx) {
  batch_job *j = ctx;
  (void)ntasks;
  for (int e = task * j->per; e < (task + 1) * j->per; e++) /* the same kernels as one thread: same bits */
    sgemm_serial(j->ta, j->tb, j->m, j->n, j->k, j->alpha, j->A + e * j->sa, j->lda, j->B + e * j->sb, j->ldb,
                 j->beta, j->C + e * j->sc, j->ldc, j->bias ? j->bias + (int64_t)e * j->n : NULL);
}
static void sgemm_batch(int E, int ta, int tb, int m, int n, int k, float alpha, const float *A, int64_t sa,
                        int lda, const float *B, int64_t sb, int ldb, float beta, float *C, int64_t sc, int ldc,
                        const float *bias) {
  int T = cil_pool_size(), whole = 0;
  if (T > 1 && E >= T && m > 0 && n > 0 && (double)m * n * (k > 0 ? k : 1) >= 1 << 16) {
    whole = E - E % T;
    int prof = gemm_prof_enabled();
    double t0 = prof ? cil_now() : 0;
    batch_job j = {ta, tb, m, n, k, lda, ldb, ldc, whole / T, sa, sb, sc, alpha, beta, A, B, bias, C};
    cil_pool_run(T, batch_task, &j);
    if (prof) gemm_prof_add(ta, tb, m, n, k, whole, cil_now() - t0);
  }
  for (int e = whole; e < E; e++)
    cil_sgemm_bias(ta, tb, m, n, k, alpha, A + e * sa, lda, B + e * sb, ldb, beta, C + e * sc, ldc,
                   bias ? bias + (int64_t)e * n : NULL);
}

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
      sgemm_batch(E, !ta, 0, k, n, m, 1.0f, a->data, sa, lda, g->data, (int64_t)m * n, n, 1.0f, dst->data,
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
  sgemm_batch(E, ta, tb, m, n, k, 1.0f, a->data, sa, as[1], b->data, sb, bs[1], 0.0f, out->data, (int64_t)m * n, n, NULL);
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
  int rows = in ? (int)(x->numel / in) : 0;
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
        sgemm_batch(E, 0, 1, B, in, out, 1.0f, g->data, (int64_t)B * out, out, w->data, (int64_t)in * out, out,
                    0.0f, gx->data, (int64_t)B * in, in, NULL);
      gin[0] = gx;
    } else {
      gin[0] = batch_sum_if(bmm(g, w, 0, 1), x);
    }
  }
  if (nd->need[1]) {
    cil_tensor *dst = cil_direct_grad(w);
    if (dst) { /* grad_W[e] += x[e]^T g[e] */
      sgemm_batch(E, 1, 0, in, out, B, 1.0f, x->data, shared ? 0 : (int64_t)B * in, in, g->data,
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

cil_tensor *cil_elinear(cil_tensor *x, cil_tensor *w, cil_tensor *b) {
  CIL_CHECK(w->ndim == 3, "ensemble linear: weight must be [E, in, out], got %s", cil_shapestr(w));
  int E = w->shape[0], in = w->shape[1], out = w->shape[2];
  CIL_CHECK((x->ndim == 3 && x->shape[0] == E && x->shape[2] == in) || (x->ndim == 2 && x->shape[1] == in),
            "ensemble linear: input %s does not fit weight %s (expected [%d, B, %d] or [B, %d])",
            cil_shapestr(x), cil_shapestr(w), E, in, in);
  CIL_CHECK(!b || (b->ndim == 3 && b->shape[0] == E && b->shape[1] == 1 && b->shape[2] == out),
            "ensemble linear: bias %s must be [%d, 1, %d]", b ? cil_shapestr(b) : "", E, out);
  int B = x->ndim == 3 ? x->shape[1] : x->shape[0];
  int s[3] = {E, B, out};
  cil_tensor *y = cil_new(3, s);
  CIL_NONNULL(y);
  sgemm_batch(E, 0, 0, B, out, in, 1.0f, x->data, x->ndim == 3 ? (int64_t)B * in : 0, in, w->data,
              (int64_t)in * out, out, 0.0f, y->data, (int64_t)B * out, out, b ? b->data : NULL);
  cil_record("ensemble_linear", elinear_backward, y, b ? 3 : 2, x, w, b);
  return y;
}

/* ================================================================ threads */
extern void openblas_set_num_threads(int);
static int g_threads = 1;
void cil_set_num_threads(int n) {
  if (n < 1) n = 1;
  g_threads = n;
  openblas_set_num_threads(1); /* parallelism comes from our pool (cil_sgemm) */
  cil_pool_resize(n);
}
int cil_get_num_threads(void) { return g_threads; }
