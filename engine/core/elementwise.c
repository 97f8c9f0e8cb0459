/* Elementwise ops: binary arithmetic and comparisons with broadcasting, unary activations (with the
 * vectorized exp behind sigmoid/SiLU), leaky_relu, clamp, affine and where. Each op's forward kernel
 * and its backward rule (written with these same ops) sit together. */
#include "internal.h"
#include "vmath.h"
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    } else if (n > 0) { /* (an empty result may still have huge sizes in front of its 0) */      \
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
  cil_bstrides(a, nd, shape, sa);
  cil_bstrides(b, nd, shape, sb);
  cil_pad4(nd, shape, P);
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

static void bin_backward(cil_node *nd, cil_tensor *g, cil_tensor **gin) {
  cil_tensor *a = nd->in[0], *b = nd->in[1];
  switch (nd->i[0]) {
  case CIL_ADD:
    if (nd->need[0]) gin[0] = cil_sum_to_like(g, a);
    if (nd->need[1]) gin[1] = cil_sum_to_like(g, b);
    break;
  case CIL_SUB:
    if (nd->need[0]) gin[0] = cil_sum_to_like(g, a);
    if (nd->need[1]) gin[1] = cil_sum_to_like(cil_unary(CIL_NEG, g), b);
    break;
  case CIL_MUL:
    if (nd->need[0]) gin[0] = cil_sum_to_like(MUL(g, b), a);
    if (nd->need[1]) gin[1] = cil_sum_to_like(MUL(g, a), b);
    break;
  case CIL_DIV:
    if (nd->need[0]) gin[0] = cil_sum_to_like(DIV(g, b), a);
    if (nd->need[1]) /* d(a/b)/db = -a/b^2 */
      gin[1] = cil_sum_to_like(cil_unary(CIL_NEG, DIV(MUL(g, a), cil_unary(CIL_SQUARE, b))), b);
    break;
  case CIL_POW: {
    if (nd->need[0]) { /* b * a^(b-1) */
      cil_tensor *bm1 = cil_binary_s(CIL_SUB, b, 1.0f);
      gin[0] = cil_sum_to_like(MUL(g, MUL(b, cil_binary(CIL_POW, a, bm1))), a);
    }
    if (nd->need[1]) /* a^b * log a */
      gin[1] = cil_sum_to_like(MUL(g, MUL(nd->out, cil_unary(CIL_LOG, a))), b);
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
    if (nd->need[0]) gin[0] = cil_sum_to_like(MUL(g, wa), a);
    if (nd->need[1]) gin[1] = cil_sum_to_like(MUL(g, wb), b);
    break;
  }
  }
}

/* ================================================================ unary */
static const char *unop_name[CIL_NUNARY] = {
    "neg",      "exp",  "log",  "sqrt",   "square", "abs",     "tanh",       "atanh",   "sigmoid",
    "softplus", "relu", "silu", "sign",   "silu_d", "silu_dd", "softplus_d", "step"};

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
#define CIL_SILU_VEC 1
#elif defined(__AVX2__) && defined(__FMA__)
/* O[0:n] = F(X[0:n]) 8 lanes at a time; the last vector masked, not a scalar tail, so an element's bits do
 * not depend on the split (whole vectors are stored plainly: a masked store is slow on AMD cores) */
#define MAP8(F)                                                                                    \
  do {                                                                                             \
    int64_t i8 = 0;                                                                                \
    for (; i8 + 8 <= n; i8 += 8) _mm256_storeu_ps(O + i8, F(_mm256_loadu_ps(X + i8)));             \
    if (i8 < n) {                                                                                  \
      __m256i m8 = vmask8(n - i8);                                                                 \
      _mm256_maskstore_ps(O + i8, m8, F(_mm256_maskload_ps(X + i8, m8)));                          \
    }                                                                                              \
  } while (0)
static inline __m256 vsilu8(__m256 x) { return _mm256_mul_ps(x, vsigm8(x)); }
static void silu_fwd_vec(int64_t n, const float *X, float *O) { MAP8(vsilu8); }
static inline __m256 vsilu_bwd8(__m256 x, __m256 g) {
  __m256 s = vsigm8(x), one = _mm256_set1_ps(1.0f);
  return _mm256_mul_ps(_mm256_mul_ps(g, s), _mm256_fmadd_ps(x, _mm256_sub_ps(one, s), one));
}
static void silu_bwd_vec(int64_t n, const float *X, const float *G, float *O) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(O + i, vsilu_bwd8(_mm256_loadu_ps(X + i), _mm256_loadu_ps(G + i)));
  if (i < n) {
    __m256i m = vmask8(n - i);
    _mm256_maskstore_ps(O + i, m, vsilu_bwd8(_mm256_maskload_ps(X + i, m), _mm256_maskload_ps(G + i, m)));
  }
}
#define CIL_SILU_VEC 1
/* silu', silu'' and silu''' (the gradient penalty's double backward runs them with a graph) in 8 lanes:
 * the closed forms of the scalar functions above, every term carrying x, so NaN stays NaN. vsigm8 keeps
 * s >= 1.6e-38 (exp's argument is capped), where the scalar sigm reaches 0 below x = -87.3; there the
 * scalar results are 0 * (a term linear in x): -0 for finite x, NaN at -inf. Those lanes take that. */
static inline __m256 below88(__m256 x, __m256 y, float c) { /* x < -88: 0 * (c + x), else y */
  __m256 low = _mm256_cmp_ps(x, _mm256_set1_ps(-88.0f), _CMP_LT_OQ);
  return _mm256_blendv_ps(y, _mm256_mul_ps(_mm256_setzero_ps(), _mm256_add_ps(_mm256_set1_ps(c), x)), low);
}
static inline __m256 vsilu_d8(__m256 x) { /* s (1 + x (1 - s)) */
  __m256 s = vsigm8(x), one = _mm256_set1_ps(1.0f);
  return below88(x, _mm256_mul_ps(s, _mm256_fmadd_ps(x, _mm256_sub_ps(one, s), one)), 1.0f);
}
static inline __m256 vsilu_dd8(__m256 x) { /* s (1 - s) (2 + x (1 - 2 s)) */
  __m256 s = vsigm8(x), one = _mm256_set1_ps(1.0f);
  __m256 q = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), s, one);
  return below88(x, _mm256_mul_ps(_mm256_mul_ps(s, _mm256_sub_ps(one, s)), _mm256_fmadd_ps(x, q, _mm256_set1_ps(2.0f))),
                 2.0f);
}
static inline __m256 vsilu_ddd8(__m256 x) { /* s (1 - s) (q (3 + x q) - 2 x s (1 - s)), q = 1 - 2 s */
  __m256 s = vsigm8(x), one = _mm256_set1_ps(1.0f);
  __m256 q = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), s, one), ss = _mm256_mul_ps(s, _mm256_sub_ps(one, s));
  __m256 t = _mm256_mul_ps(q, _mm256_fmadd_ps(x, q, _mm256_set1_ps(3.0f)));
  return below88(x, _mm256_mul_ps(ss, _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f), x), ss, t)), 3.0f);
}
#define CIL_SILU_D_VEC 1
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
#if defined(CIL_SILU_VEC)
  case CIL_SILU: silu_fwd_vec(n, X, O); break;
#else
  case CIL_SILU: UN_KERNEL(x / (1.0f + fexp(-x)));
#endif
  case CIL_SIGN: UN_KERNEL((float)((x > 0.0f) - (x < 0.0f)));
#if defined(CIL_SILU_D_VEC)
  case CIL_SILU_D: MAP8(vsilu_d8); break;
  case CIL_SILU_DD: MAP8(vsilu_dd8); break;
  case CIL_NUNARY: MAP8(vsilu_ddd8); break; /* internal: silu''' */
#else
  case CIL_SILU_D: UN_KERNEL(silu_d_f(x));
  case CIL_SILU_DD: UN_KERNEL(silu_dd_f(x));
  case CIL_NUNARY: UN_KERNEL(silu_ddd_f(x)); /* internal: silu''' */
#endif
  case CIL_SOFTPLUS_D: UN_KERNEL(sigm(x));
  case CIL_STEP: UN_KERNEL(x > 0.0f ? 1.0f : 0.0f);
  default: break;
  }
}
void cil_unary_kernel(cil_unop op, const float *x, float *out, int64_t n) {
  un_job j = {op, x, out};
  if (n > 0) unary_range(0, n, &j);
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
#if defined(CIL_SILU_VEC)
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
  if (nd->need[1]) gin[1] = cil_sum_to_like(cil_where(c, g, z), nd->in[1]);
  if (nd->need[2]) gin[2] = cil_sum_to_like(cil_where(c, z, g), nd->in[2]);
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
  cil_bstrides(cond, nd, s2, sc);
  cil_bstrides(a, nd, s2, sa);
  cil_bstrides(b, nd, s2, sb);
  cil_pad4(nd, s2, P);
  if (out->numel == 0) P[0] = 0; /* nothing to do, however large the other sizes */
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
