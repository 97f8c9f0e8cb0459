/* cleanil engine core: float32 tensors, the graph arena, reverse-mode autograd.
 *
 * Memory model
 *   persistent  parameters, optimizer state, datasets, buffers. malloc-owned, reference counted
 *               (cil_retain / cil_release). Never freed by an update.
 *   arena       everything an op makes while computing one update: results, views, autograd nodes.
 *               Bump-allocated; cil_arena_reset() frees all of it at once and bumps the arena
 *               generation, so stale handles can be detected (cil_arena_gen()).
 * Every op returns an arena tensor. A persistent tensor used by an op is retained by the arena until
 * the next reset, so it cannot disappear under a live graph.
 *
 * Errors: engine functions never abort. An op given bad arguments sets a message (cil_errmsg()) and
 * returns NULL; the bindings turn that into a Lua error.
 *
 * Layout: row-major, contiguous, 0..4 dims (0 dims = a scalar). Index tensors are float32 holding
 * whole numbers (exact up to 2^24).
 */
#ifndef CIL_TENSOR_H
#define CIL_TENSOR_H
#include <stddef.h>
#include <stdint.h>

#define CIL_MAXDIM 4
/* most elements a tensor may have; the product of its non-zero sizes is bounded too, so any partial
 * product of sizes (rows, outer * inner, ...) fits an int */
#define CIL_MAXNUMEL ((int64_t)2147483647)

typedef struct cil_tensor cil_tensor;
typedef struct cil_node cil_node;

struct cil_tensor {
  float *data;               /* first element */
  int ndim;                  /* 0..4 */
  int shape[CIL_MAXDIM];     /* sizes; unused entries are 1 */
  int64_t numel;             /* product of shape */
  uint8_t requires_grad;     /* leaf that wants .grad, or result of an op on such tensors */
  uint8_t persistent;        /* 1: malloc-owned and refcounted; 0: lives in the arena */
  uint8_t freed;             /* persistent: storage released by cil_free (handles see an error) */
  int refcount;              /* persistent only */
  cil_tensor *base;          /* persistent view: tensor that owns data (retained); NULL if owner */
  cil_tensor *grad;          /* accumulated gradient (leaves); persistent iff this is persistent */
  cil_node *node;            /* op that produced it (NULL: leaf) */
  cil_tensor *gacc;          /* scratch: gradient accumulated during one backward pass */
  uint64_t retained_gen;     /* persistent: arena generation that last retained it */
  uint32_t mark;             /* scratch: backward pass id when this is a target */
};

/* ---- errors ---- */
const char *cil_errmsg(void);
void cil_seterr(const char *fmt, ...);
/* shape as text, e.g. "[256, 11]" (uses a rotating static buffer, 8 slots) */
const char *cil_shapestr(const cil_tensor *t);

/* ---- arena and persistent allocation ---- */
uint64_t cil_arena_gen(void);          /* current generation; starts at 1 */
void cil_arena_reset(void);            /* free every arena tensor and node */
size_t cil_arena_bytes(void);          /* bytes in use in the arena */
size_t cil_arena_capacity(void);       /* bytes reserved by the arena */
void *cil_arena_alloc(size_t bytes);   /* 64-byte aligned, zeroed=no */

cil_tensor *cil_new(int ndim, const int *shape);          /* arena, uninitialized */
cil_tensor *cil_new_like(const cil_tensor *t);
cil_tensor *cil_persistent(int ndim, const int *shape);   /* persistent, zero-filled, refcount 1 */
cil_tensor *cil_persist(const cil_tensor *t);              /* persistent copy, refcount 1 */
cil_tensor *cil_persistent_view(cil_tensor *base, int64_t offset, int ndim, const int *shape);
void cil_retain(cil_tensor *t);
void cil_release(cil_tensor *t);       /* persistent: drop a reference; frees at 0 */
void cil_arena_keep(cil_tensor *t);    /* make sure t outlives the current arena generation */
int cil_shape_eq(const cil_tensor *a, const cil_tensor *b);

/* ---- grad mode ---- */
int cil_grad_enabled(void);
int cil_set_grad_enabled(int on);      /* returns previous */

/* ---- creation (arena unless noted) ---- */
cil_tensor *cil_scalar(float v);
cil_tensor *cil_full(int ndim, const int *shape, float v);
cil_tensor *cil_zeros(int ndim, const int *shape);
cil_tensor *cil_arange(double start, double stop, double step);
cil_tensor *cil_from(int ndim, const int *shape, const float *src);

/* ---- shape ops ---- */
cil_tensor *cil_reshape(cil_tensor *x, int ndim, const int *shape); /* one -1 allowed */
cil_tensor *cil_transpose(cil_tensor *x);                            /* 2-D */
cil_tensor *cil_narrow(cil_tensor *x, int dim, int start, int len);  /* view when dim == 0 */
cil_tensor *cil_cat(cil_tensor **xs, int n, int dim);
cil_tensor *cil_stack(cil_tensor **xs, int n, int dim);
cil_tensor *cil_expand(cil_tensor *x, int ndim, const int *shape);  /* broadcast to shape */
cil_tensor *cil_sum_to(cil_tensor *x, int ndim, const int *shape);  /* inverse of expand */
cil_tensor *cil_index_select(cil_tensor *x, int dim, cil_tensor *idx, int base);
cil_tensor *cil_gather(cil_tensor *x, int dim, cil_tensor *idx, int base);
cil_tensor *cil_detach(cil_tensor *x);
cil_tensor *cil_clone(cil_tensor *x);

/* ---- elementwise ---- */
typedef enum {
  CIL_ADD, CIL_SUB, CIL_MUL, CIL_DIV, CIL_POW, CIL_MINIMUM, CIL_MAXIMUM,
  CIL_LT, CIL_LE, CIL_GT, CIL_GE, CIL_EQ, CIL_NE, CIL_NBINARY
} cil_binop;
typedef enum {
  CIL_NEG, CIL_EXP, CIL_LOG, CIL_SQRT, CIL_SQUARE, CIL_ABS, CIL_TANH, CIL_ATANH, CIL_SIGMOID,
  CIL_SOFTPLUS, CIL_RELU, CIL_SILU, CIL_SIGN,
  /* derivative helpers (used by backward rules, differentiable themselves) */
  CIL_SILU_D,      /* silu'(x)  */
  CIL_SILU_DD,     /* silu''(x) */
  CIL_SOFTPLUS_D,  /* sigmoid(x) */
  CIL_STEP,        /* x > 0 ? 1 : 0 (no gradient) */
  CIL_NUNARY
} cil_unop;
cil_tensor *cil_binary(cil_binop op, cil_tensor *a, cil_tensor *b);
cil_tensor *cil_binary_s(cil_binop op, cil_tensor *a, float s);   /* a op s */
cil_tensor *cil_rbinary_s(cil_binop op, float s, cil_tensor *a);  /* s op a */
cil_tensor *cil_unary(cil_unop op, cil_tensor *x);
cil_tensor *cil_leaky_relu(cil_tensor *x, float slope);
cil_tensor *cil_clamp(cil_tensor *x, float lo, float hi);          /* ±INFINITY for one-sided */
cil_tensor *cil_where(cil_tensor *cond, cil_tensor *a, cil_tensor *b);
cil_tensor *cil_affine(cil_tensor *x, float scale, float shift);  /* scale*x + shift */

/* ---- reductions (dim = CIL_ALLDIMS: over all elements; negative dims count from the end) ---- */
#define CIL_ALLDIMS INT32_MIN
typedef enum { CIL_SUM, CIL_MEAN, CIL_MAX, CIL_MIN, CIL_LOGSUMEXP, CIL_NREDUCE } cil_reduce_op;
cil_tensor *cil_reduce(cil_reduce_op op, cil_tensor *x, int dim, int keepdim);
cil_tensor *cil_argmax(cil_tensor *x, int dim, int keepdim, int base, int argmin);
cil_tensor *cil_norm(cil_tensor *x, int dim, int keepdim);  /* L2, sqrt(sum x^2) */
cil_tensor *cil_sumsq_all(cil_tensor *x);                  /* sum x^2 over all elements, a scalar */

/* ---- linear algebra ---- */
cil_tensor *cil_mm(cil_tensor *a, cil_tensor *b, int ta, int tb); /* op(a) @ op(b), 2-D */
cil_tensor *cil_matmul(cil_tensor *a, cil_tensor *b);             /* 2-D, 3-D batched, broadcast */
cil_tensor *cil_linear(cil_tensor *x, cil_tensor *w, cil_tensor *b); /* x w^T + b, w [out,in] */
/* ensemble: y[e] = x[e] w[e] + b[e], x [E,B,in] or shared [B,in], w [E,in,out], b [E,1,out] */
cil_tensor *cil_elinear(cil_tensor *x, cil_tensor *w, cil_tensor *b);
/* a whole MLP: layers l = 1..nl, act (1 + a cil_unop, or 0) after every layer but the last; ens = 1:
 * ensemble layers (w [E,in,out], b [E,1,out], as cil_elinear), 0: plain ones (w [out,in], b [out], as
 * cil_linear). Without a graph, on enough rows, the leading layers run in row blocks (mlp_forward.c),
 * bit-for-bit the layer-by-layer result; with a graph it is the layer-by-layer ops. */
cil_tensor *cil_mlp_forward(cil_tensor *x, cil_tensor **w, cil_tensor **b, int nl, int act, int ens);
/* act(cil_elinear(x, w, b)), fused into the product when no graph is recorded (same bits) */
cil_tensor *cil_elinear_act(cil_tensor *x, cil_tensor *w, cil_tensor *b, cil_unop act);
/* dynamics ensemble: lv = lo + softplus((hi - softplus(hi - l)) - lo), lo/hi [D] over l's last dim */
cil_tensor *cil_soft_clamp(cil_tensor *l, cil_tensor *lo, cil_tensor *hi);

/* ---- in place (no autograd; refused on non-leaf graph tensors) ---- */
int cil_copy_(cil_tensor *dst, const cil_tensor *src);  /* same numel */
int cil_fill_(cil_tensor *dst, float v);
int cil_check_inplace(const cil_tensor *t, const char *op);

/* ---- autograd ---- */
/* loss.backward(): accumulate d(out)/d(leaf) into leaf->grad for every leaf that requires grad
 * (or only for `inputs` when n_inputs > 0). gout NULL means ones (out must have one element). */
int cil_backward(cil_tensor *out, cil_tensor *gout, cil_tensor **inputs, int n_inputs, int create_graph);
/* torch.autograd.grad: grads[i] = d(sum_k <gouts[k], outs[k]>)/d(inputs[i]); NULL when unused and
 * allow_unused, else an error. Leaves' .grad untouched. */
int cil_grad(cil_tensor **outs, cil_tensor **gouts, int n_outs, cil_tensor **inputs, int n_inputs,
             int create_graph, int allow_unused, cil_tensor **grads);
int cil_tape_length(void);

/* ---- threads ---- */
void cil_set_num_threads(int n);   /* OpenBLAS and our own kernels */
int cil_get_num_threads(void);

/* ---- GEMM precision (core/gemm_bf16.c) ---- */
/* CIL_BF16: GEMMs round their operands to bfloat16 and sum in float32; outputs, parameters, gradients,
 * optimizer state and every other op stay float32. Needs AVX512-BF16: elsewhere a request for bf16
 * runs float32 (one line on stderr). Thin products (fewer than 16 output columns, or k = 1) stay float32. */
enum { CIL_FP32 = 0, CIL_BF16 = 1 };
int cil_set_gemm_precision(int prec);        /* every GEMM; returns the previous (effective) setting */
int cil_gemm_precision(void);                /* effective: CIL_BF16 only where the CPU runs it */
/* GEMMs run with grad mode off outside a backward pass (no_grad scopes: evaluation, relabelling, model
 * rollouts, targets) use this precision when the global one is CIL_FP32 */
int cil_set_gemm_nograd_precision(int prec); /* returns the previous (effective) setting */
int cil_gemm_nograd_precision(void);
int cil_gemm_bf16_supported(void);           /* this CPU runs the bf16 kernel (and CLEANIL_BF16 != off) */

#endif
