/* A whole MLP's forward pass without a graph, run in blocks of rows: each block of ROWS rows goes
 * through every layer before the next block starts, so its activations (ROWS x 200 floats, 400 KB)
 * stay in the core's L2 instead of each layer writing and the next one reading back a whole batch
 * (a 7-member ensemble on 5000 rollout rows: 28 MB a layer). For the model rollouts of the model-based
 * methods, whose no-gradient passes run at memory speed layer by layer -- in bfloat16 most of all, whose
 * operands must be packed (the issue-25 rollouts gained 1.04x from bf16 layer by layer).
 *
 *   y = L_n( act( ... act( L_1(x) ) ) ),   L_l(h) = h W_l + b_l  (ensemble: per member e, W_l [E, in, out])
 *                                          L_l(h) = h W_l^T + b_l (plain: W_l [out, in], as cil_linear)
 *
 * Bits: every block runs the same single-threaded kernels as the layer-by-layer ops, and those sum each
 * element of a product over k in one order whatever rows surround it (the thread split of
 * gemm_dispatch.c relies on the same), and the activation is the same elementwise kernel, row by row.
 * So the output is bit-for-bit that of the layer-by-layer path, at any thread count
 * (tests/lua/mlp_forward_spec.lua). Blocks are only used where that holds for sure: our own GEMM kernel
 * (or the bf16 one) active, every blocked layer at least 16 outputs wide and 2 inputs deep (thinner
 * layers go to OpenBLAS, which picks its kernel by size). The leading layers that qualify are blocked;
 * the rest (an actor's 6-wide head) run as ordinary ops on the blocked part's output. */
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

#define ROWS 512        /* rows per block: 2 x 400 KB of 200-wide activations fit a Zen 4/5 L2 beside W */
#define MIN_ROWS 1024   /* fewer rows: the layer-by-layer path (one block would be the whole batch) */

static _Atomic long g_blocked; /* passes that ran in blocks (tests check the path is taken) */
long cil_mlp_blocked_passes(void) { return atomic_load_explicit(&g_blocked, memory_order_relaxed); }

typedef struct {
  int E, B, nb, nl, ens, shared, bf16, act, maxw;
  const int *in, *out;
  const float *x, *const *w, *const *b;
  float *y, *scratch; /* scratch: per task, 2 x ROWS x maxw floats */
  int nblk;
} mlp_job;

static void mlp_task(int task, int ntasks, void *ctx) {
  mlp_job *j = ctx;
  int64_t units = (int64_t)j->E * j->nblk;
  int64_t u0 = units * task / ntasks, u1 = units * (task + 1) / ntasks;
  float *buf[2] = {j->scratch + (int64_t)task * 2 * ROWS * j->maxw,
                   j->scratch + (int64_t)task * 2 * ROWS * j->maxw + (int64_t)ROWS * j->maxw};
  for (int64_t u = u0; u < u1; u++) {
    int e = (int)(u / j->nblk), r0 = (int)(u % j->nblk) * ROWS;
    int mb = j->B - r0 < ROWS ? j->B - r0 : ROWS;
    const float *h = j->x + (j->shared ? 0 : (int64_t)e * j->B * j->in[0]) + (int64_t)r0 * j->in[0];
    for (int l = 0; l < j->nb; l++) {
      int k = j->in[l], n = j->out[l];
      float *o = l == j->nb - 1 ? j->y + ((int64_t)e * j->B + r0) * n : buf[l & 1];
      const float *W = j->w[l] + (j->ens ? (int64_t)e * k * n : 0);
      const float *bias = j->b[l] ? j->b[l] + (j->ens ? (int64_t)e * n : 0) : NULL;
      cil_sgemm_prec_serial(j->bf16, 0, !j->ens, mb, n, k, 1.0f, h, k, W, j->ens ? n : k, 0.0f, o, n, bias);
      if (j->act && l < j->nl - 1) /* a hidden layer */
        for (int i = 0; i < mb; i++) cil_unary_kernel((cil_unop)(j->act - 1), o + (int64_t)i * n, o + (int64_t)i * n, n);
      h = o;
    }
  }
}

/* the ordinary differentiable ops for layers [l0, nl) on h (the path for graphs, thin layers, few rows) */
static cil_tensor *layers_from(cil_tensor *h, cil_tensor **w, cil_tensor **b, int l0, int nl, int act, int ens) {
  for (int l = l0; l < nl && h; l++) {
    int hidden = l < nl - 1 && act;
    if (ens) h = hidden ? cil_elinear_act(h, w[l], b[l], (cil_unop)(act - 1)) : cil_elinear(h, w[l], b[l]);
    else {
      h = cil_linear(h, w[l], b[l]);
      if (h && hidden) h = cil_unary((cil_unop)(act - 1), h);
    }
  }
  return h;
}

cil_tensor *cil_mlp_forward(cil_tensor *x, cil_tensor **w, cil_tensor **b, int nl, int act, int ens) {
  CIL_CHECK(nl >= 1, "mlp forward: no layers");
  CIL_CHECK(act >= 0 && act <= CIL_NUNARY, "mlp forward: unknown activation %d", act - 1);
  CIL_CHECK(x->ndim >= 1, "mlp forward: input must have at least 1 dim, got a scalar");
  /* shapes: each layer's input width is the previous one's output width (the ops check the rest) */
  int in[64], out[64];
  CIL_CHECK(nl <= 64, "mlp forward: %d layers (at most 64)", nl);
  int E = 1;
  for (int l = 0; l < nl; l++) {
    CIL_CHECK(w[l]->ndim == (ens ? 3 : 2), "mlp forward: layer %d weight %s must be %s", l + 1,
              cil_shapestr(w[l]), ens ? "[E, in, out]" : "[out, in]");
    in[l] = w[l]->shape[1];
    out[l] = ens ? w[l]->shape[2] : w[l]->shape[0];
    if (ens) {
      if (l == 0) E = w[0]->shape[0];
      CIL_CHECK(w[l]->shape[0] == E, "mlp forward: layer %d weight %s has %d members, layer 1 has %d", l + 1,
                cil_shapestr(w[l]), w[l]->shape[0], E);
    }
    CIL_CHECK(l == 0 || in[l] == out[l - 1], "mlp forward: layer %d weight %s takes %d inputs, layer %d gives %d",
              l + 1, cil_shapestr(w[l]), in[l], l, out[l - 1]);
  }
  int shared = ens && x->ndim == 2;
  int B;
  if (ens) {
    CIL_CHECK((x->ndim == 3 && x->shape[0] == E && x->shape[2] == in[0]) || (x->ndim == 2 && x->shape[1] == in[0]),
              "mlp forward: input %s does not fit weight %s (expected [%d, B, %d] or [B, %d])", cil_shapestr(x),
              cil_shapestr(w[0]), E, in[0], in[0]);
    B = x->ndim == 3 ? x->shape[1] : x->shape[0];
  } else {
    CIL_CHECK(x->shape[x->ndim - 1] == in[0], "mlp forward: input %s has %d columns, weight %s expects %d",
              cil_shapestr(x), x->shape[x->ndim - 1], cil_shapestr(w[0]), in[0]);
    B = in[0] > 0 ? (int)(x->numel / in[0]) : 0;
  }
  for (int l = 0; l < nl; l++) /* biases: the ops' own checks say what is wrong */
    if (b[l] && !(ens ? b[l]->ndim == 3 && b[l]->shape[0] == E && b[l]->shape[1] == 1 && b[l]->shape[2] == out[l]
                      : b[l]->ndim == 1 && b[l]->shape[0] == out[l]))
      return layers_from(x, w, b, 0, nl, act, ens);
  /* the leading layers that can run in blocks with unchanged bits */
  int nb = 0;
  if (!cil_grad_enabled() && !cil_in_backward && B >= MIN_ROWS && !cil_gemm_profiling() &&
      (cil_gemm_own_active() || cil_gemm_bf16_now()))
    while (nb < nl && out[nb] >= 16 && in[nb] >= 2) nb++;
  if (nb == 0) return layers_from(x, w, b, 0, nl, act, ens);
  int maxw = 16;
  for (int l = 0; l < nb; l++) maxw = out[l] > maxw ? out[l] : maxw;
  maxw = (maxw + 15) & ~15;
  int T = cil_pool_size(), nblk = (B + ROWS - 1) / ROWS;
  if ((int64_t)E * nblk < T) T = E * nblk;
  /* the blocked part's output: [E, B, out] (ensemble) or x's leading dims x out */
  int s[CIL_MAXDIM], nd;
  if (ens) {
    nd = 3;
    s[0] = E, s[1] = B, s[2] = out[nb - 1];
  } else {
    nd = x->ndim;
    for (int d = 0; d < nd; d++) s[d] = x->shape[d];
    s[nd - 1] = out[nb - 1];
  }
  cil_tensor *y = cil_new(nd, s);
  CIL_NONNULL(y);
  float *scratch = cil_arena_alloc(sizeof(float) * (size_t)T * 2 * ROWS * maxw);
  CIL_CHECK(scratch, "mlp forward: out of memory for %d x %d scratch rows", T * 2 * ROWS, maxw);
  const float *wp[64], *bp[64];
  for (int l = 0; l < nb; l++) {
    wp[l] = w[l]->data;
    bp[l] = b[l] ? b[l]->data : NULL;
  }
  mlp_job j = {E, B, nb, nl, ens, shared, cil_gemm_bf16_now(), act, maxw, in, out, x->data, wp, bp, y->data, scratch, nblk};
  atomic_fetch_add_explicit(&g_blocked, 1, memory_order_relaxed);
  if (T > 1) cil_pool_run(T, mlp_task, &j);
  else mlp_task(0, 1, &j);
  return nb < nl ? layers_from(y, w, b, nb, nl, act, ens) : y;
}
