/* Engine-internal declarations shared by the core's .c files. Not part of the public API. */
#ifndef CIL_INTERNAL_H
#define CIL_INTERNAL_H
#include "tensor.h"
#include <math.h>
#include <pthread.h>

/* The GEMM kernels' inner loops (gemm.c, gemm_bf16.c) are not instrumented per element in sanitizer
 * builds: per-load shadow checks in the MR x 32 register tile made the learning specs 20-30x slower than
 * Release. What they read and write is checked instead once per product, row by row, by the dispatch
 * (cil_gemm_check_extents, gemm_dispatch.c), which also covers OpenBLAS (never instrumented). The packing
 * routines stay instrumented. Empty in Release. */
#if defined(__SANITIZE_ADDRESS__)
#define CIL_KERNEL_NOSAN __attribute__((no_sanitize("address", "undefined")))
#else
#define CIL_KERNEL_NOSAN
#endif

/* Backward rule: given the gradient g of node->out, set gin[i] for every input i with need[i]. */
typedef void (*cil_backfn)(cil_node *n, cil_tensor *g, cil_tensor **gin);

struct cil_node {
  const char *name;
  cil_backfn backward;
  cil_tensor *in[3];
  int nin;
  cil_tensor *out;
  cil_tensor *saved;       /* an extra tensor a rule needs (e.g. an index tensor) */
  float f[4];              /* scalar parameters */
  int i[6];                /* integer parameters */
  int tape_index;
  uint32_t needed;         /* backward pass id in which this node leads to a target */
  uint8_t need[3];         /* per input, valid while the rule runs */
};

/* Set by cil_backward while its rules run without create_graph: a rule may then add a persistent
 * leaf's weight gradient straight into leaf->grad (GEMM with beta = 1) and return CIL_HANDLED for
 * it, instead of allocating the gradient and having it added afterwards. */
extern int cil_direct_grads;
extern cil_tensor cil_handled_sentinel;
#define CIL_HANDLED (&cil_handled_sentinel)
/* leaf->grad, allocated (zeroed) if needed; NULL unless direct accumulation applies to x */
cil_tensor *cil_direct_grad(cil_tensor *x);

/* Record a node producing `out` from inputs if grad mode is on and any input requires grad.
 * Returns the node (or NULL when nothing was recorded). */
cil_node *cil_record(const char *name, cil_backfn fn, cil_tensor *out, int nin, cil_tensor *a,
                     cil_tensor *b, cil_tensor *c);

/* Input checks that set the error message and return NULL from the calling op. */
#define CIL_CHECK(cond, ...)                                                                       \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      cil_seterr(__VA_ARGS__);                                                                     \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)
#define CIL_NONNULL(x)                                                                             \
  do {                                                                                             \
    if (!(x)) return NULL;                                                                         \
  } while (0)

/* ---- helpers shared by the op files (elementwise.c, shape.c, index.c, reduce.c, linalg.c) ---- */
/* backward rules that must not be recorded */
#define NOGRAD_BEGIN int prev_grad__ = cil_set_grad_enabled(0)
#define NOGRAD_END cil_set_grad_enabled(prev_grad__)
#define MUL(x, y) cil_binary(CIL_MUL, x, y)
#define DIV(x, y) cil_binary(CIL_DIV, x, y)
#define ADD(x, y) cil_binary(CIL_ADD, x, y)
#define SUB(x, y) cil_binary(CIL_SUB, x, y)

/* strides (in elements) of x viewed in the padded 4-D shape of `out` (0 where broadcast) */
static inline void cil_bstrides(const cil_tensor *x, int nd, const int *oshape, int64_t *st) {
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
/* shape padded with leading 1s to 4 dims */
static inline void cil_pad4(int nd, const int *shape, int *p) {
  for (int i = 0; i < 4; i++) p[i] = (i - (4 - nd)) >= 0 ? shape[i - (4 - nd)] : 1;
}
/* a gradient g reduced to x's shape (the adjoint of broadcasting); NULL stays NULL */
static inline cil_tensor *cil_sum_to_like(cil_tensor *g, cil_tensor *x) {
  if (!g) return NULL;
  if (cil_shape_eq(g, x)) return g;
  return cil_sum_to(g, x->ndim, x->shape);
}

/* Normalize a dim (negative counts from the end); returns -1 if out of range. */
int cil_normdim(int dim, int ndim);
/* View x as [outer, n, inner] around dim. */
void cil_split_dims(const cil_tensor *x, int dim, int64_t *outer, int64_t *n, int64_t *inner);
/* Broadcast shape of a and b into out (returns ndim, or -1 if incompatible). */
int cil_broadcast_shape(const cil_tensor *a, const cil_tensor *b, int *out);
/* a tensor sharing x's data with another shape (arena, no node) */
cil_tensor *cil_alias(cil_tensor *x, int ndim, const int *shape);

/* fork-join pool (parallel.c) */
int cil_pool_size(void);
void cil_pool_resize(int n);
/* pthread_create with all signals blocked in the new thread (they go to the main thread) */
int cil_thread_spawn(pthread_t *th, void *(*fn)(void *), void *arg);
/* subnormal floats (fpenv.c): flushed to zero by default on every thread that computes for us */
void cil_set_flush_subnormals(int on);
int cil_get_flush_subnormals(void);
void cil_fpenv_sync(void);              /* make this thread's MXCSR follow the setting */
unsigned cil_fpenv_apply(int on);       /* set FTZ+DAZ on or off here; returns the old MXCSR */
void cil_fpenv_restore(unsigned saved);
void cil_pool_run(int ntasks, void (*fn)(int task, int ntasks, void *ctx), void *ctx);
/* fn over [lo, hi) chunks of [0, n) on the pool when n >= 2*min_per_thread, else inline */
void cil_parallel_for(int64_t n, int64_t min_per_thread, void (*fn)(int64_t lo, int64_t hi, void *ctx),
                      void *ctx);
#define CIL_PAR_MIN 4096 /* elements per thread below which splitting does not pay */

/* sgemm wrapper: C[m,n] = alpha*op(A)*op(B) + beta*C, row-major */
double cil_now(void); /* monotonic wall clock, seconds */
void cil_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);
/* the same plus bias[n] added to every row of C (bias may be NULL) */
void cil_sgemm_bias(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc, const float *bias);
/* gemm.c: our AVX-512 SGEMM (same contract as cil_sgemm_bias, one thread); returns 0 when it does not
 * take the shape or the CPU */
int cil_gemm_own(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc, const float *bias);
int cil_gemm_own_available(void);
const char *cil_gemm_own_isa(void); /* "avx512", "avx2" or "none": the kernel compiled in */
/* which SGEMM cil_sgemm uses for shapes both take: 1 = ours (default where available), 0 = OpenBLAS;
 * CLEANIL_GEMM=openblas in the environment starts with 0. Returns the previous setting. */
int cil_gemm_use_own(int on);
/* the same, always on the calling thread (never the pool): for callers that run on their own threads
 * (engine/deploy/policy.c); the bits equal cil_sgemm_bias's at any pool size */
void cil_sgemm_bias_serial(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc, const float *bias);
/* one thread, bf16 operands when bf16 (and the bf16 kernel takes the shape), else exactly
 * cil_sgemm_bias_serial: for callers that split work over the pool themselves (mlp_forward.c) */
void cil_sgemm_prec_serial(int bf16, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc, const float *bias);
/* mlp_forward.c: how many cil_mlp_forward calls ran (some of) their layers in row blocks */
long cil_mlp_blocked_passes(void);
/* 1 while CLEANIL_PROFILE_GEMM collects its table */
int cil_gemm_profiling(void);
/* 1 when cil_sgemm* currently runs our kernel (gemm.c) for the shapes it takes */
int cil_gemm_own_active(void);
/* out[i] = op(x[i]) for i < n with cil_unary's own kernels, on the calling thread (x == out allowed) */
void cil_unary_kernel(cil_unop op, const float *x, float *out, int64_t n);
/* gemm_bf16.c: the bfloat16 GEMM (operands rounded to bf16 as they are packed, float32 sums; same contract
 * and shapes as cil_gemm_own); returns 0 when it does not take the shape or the CPU lacks AVX512-BF16 */
int cil_gemm_bf16(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc, const float *bias);
/* 1 when the GEMM about to run on this call should be bf16 (cil_set_gemm_precision, or the no-grad
 * precision while grad mode is off outside a backward pass); read on the thread that starts the GEMM */
int cil_gemm_bf16_now(void);
/* tests: pretend the CPU lacks AVX512-BF16 (1) or not (0); returns the previous value */
int cil_gemm_bf16_force_unsupported(int on);
/* out[i] = x[i] rounded to bfloat16 as the kernel rounds (returned as float); 0 if the CPU lacks it */
int cil_bf16_round(const float *x, float *out, int64_t n);
/* autograd.c: > 0 while cil_backward / cil_grad run backward rules */
extern int cil_in_backward;
/* E independent products C[e] = alpha op(A[e]) op(B[e]) + beta C[e] (+ bias row e); strides in floats, a
 * stride of 0 shares that operand (gemm_dispatch.c) */
void cil_sgemm_batch(int E, int ta, int tb, int m, int n, int k, float alpha, const float *A, int64_t sa,
                     int lda, const float *B, int64_t sb, int ldb, float beta, float *C, int64_t sc, int ldc,
                     const float *bias);
/* the same followed by an elementwise op on C (act = 1 + a cil_unop, e.g. 1 + CIL_SILU; 0 = none), fused
 * per row block:
 * the bits of the product followed by the op; for forward passes without gradients */
void cil_sgemm_batch_act(int E, int ta, int tb, int m, int n, int k, float alpha, const float *A, int64_t sa,
                         int lda, const float *B, int64_t sb, int ldb, float beta, float *C, int64_t sc, int ldc,
                         const float *bias, int act);

#endif
