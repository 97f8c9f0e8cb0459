/* Finite-difference checks of the first derivative of every differentiable op, and of the second
 * derivative (Hessian-vector products, i.e. grad-of-grad with create_graph) of every op.
 *
 * Tolerances. Ops run in float32 (eps 6e-8); the scalarized output s = sum(w*f) is accumulated in
 * double here. A central difference with step h has rounding error ~ eps*|s|/h and truncation
 * error ~ h^2*|f'''|/6. With h = 1e-2 and |s| = O(10) both are ~1e-4, so |analytic - numeric| <=
 * 5e-3 + 3e-2*|value| separates right from wrong (a wrong rule is off by O(1)). Inputs avoid kinks
 * (relu, abs, clamp bounds, max/min ties) by at least 2h.
 */
#include <stdlib.h>
#include <string.h>
#include "../../engine/core/rng.h"
#include "../../engine/core/tensor.h"
#include "check.h"

typedef cil_tensor *(*fn_t)(cil_tensor **x);
static cil_rng R;

static cil_tensor *mk(int nd, const int *shape, float lo, float hi) {
  cil_tensor *t = cil_persistent(nd, shape);
  cil_rng_fill_uniform(&R, t->data, t->numel, lo, hi);
  t->requires_grad = 1;
  return t;
}
/* values away from 0 by at least `gap` (for kinked ops) */
static cil_tensor *mk_gap(int nd, const int *shape, float mag, float gap) {
  cil_tensor *t = mk(nd, shape, -mag, mag);
  for (int64_t i = 0; i < t->numel; i++)
    if (fabsf(t->data[i]) < gap) t->data[i] = t->data[i] < 0 ? -gap - 0.1f : gap + 0.1f;
  return t;
}

/* s = sum(w * f(x)) in double; w fixed per check */
static double *g_w = NULL;
static int64_t g_wn = 0;
static double scalarize(cil_tensor *out) {
  double s = 0;
  for (int64_t i = 0; i < out->numel; i++) s += g_w[i] * out->data[i];
  return s;
}
static void set_weights(int64_t n) {
  free(g_w);
  g_w = malloc(n * sizeof *g_w);
  g_wn = n;
  for (int64_t i = 0; i < n; i++) g_w[i] = cil_rng_uniform(&R) * 2 - 1;
}
static cil_tensor *weights_tensor(cil_tensor *like) {
  cil_tensor *w = cil_new_like(like);
  for (int64_t i = 0; i < w->numel; i++) w->data[i] = (float)g_w[i];
  return w;
}
static double eval_s(fn_t f, cil_tensor **xs, int n) {
  (void)n;
  double s = scalarize(f(xs)); /* grad mode stays on: f may itself take gradients */
  cil_arena_reset();
  return s;
}
static int close_enough(double a, double n, double atol, double rtol) {
  double m = fabs(a) > fabs(n) ? fabs(a) : fabs(n);
  return fabs(a - n) <= atol + rtol * m;
}

/* analytic gradients (arena tensors, NULL = zero) copied to doubles, so the arena can be reset */
static void to_doubles(cil_tensor **g, cil_tensor **xs, int n, double **out) {
  for (int i = 0; i < n; i++) {
    out[i] = calloc(xs[i]->numel, sizeof(double));
    if (g[i])
      for (int64_t j = 0; j < xs[i]->numel; j++) out[i][j] = g[i]->data[j];
  }
}

/* every element of every input: analytic[i][j] vs the central difference of scalar(f, xs, n)
 * with step 1e-2; frees analytic; returns the number of mismatches (reports at most 3) */
typedef double (*scalar_fn)(fn_t f, cil_tensor **xs, int n);
static int compare_fd(const char *name, const char *what, fn_t f, int n, cil_tensor **xs,
                      scalar_fn scalar, double **analytic, double atol, double rtol) {
  int bad = 0;
  const float h = 1e-2f;
  for (int i = 0; i < n; i++) {
    cil_tensor *x = xs[i];
    for (int64_t j = 0; j < x->numel && bad < 3; j++) {
      float x0 = x->data[j];
      x->data[j] = x0 + h;
      float xp = x->data[j];
      double sp = scalar(f, xs, n);
      x->data[j] = x0 - h;
      float xm = x->data[j];
      double sm = scalar(f, xs, n);
      x->data[j] = x0;
      double num = (sp - sm) / ((double)xp - xm);
      if (!close_enough(analytic[i][j], num, atol, rtol)) {
        bad++;
        fprintf(stderr, "  %s: %s x%d[%lld]: analytic %.6g numeric %.6g\n", name, what, i + 1,
                (long long)j, analytic[i][j], num);
      }
    }
    free(analytic[i]);
  }
  return bad;
}

/* first derivative */
static void gradcheck(const char *name, fn_t f, int n, cil_tensor **xs) {
  cil_tensor *out = f(xs);
  if (!out) {
    CHECK(0, "%s: forward failed: %s", name, cil_errmsg());
    return;
  }
  set_weights(out->numel);
  cil_tensor *s = cil_reduce(CIL_SUM, cil_binary(CIL_MUL, out, weights_tensor(out)), CIL_ALLDIMS, 0);
  cil_tensor *grads[4] = {0};
  int ok = cil_grad(&s, NULL, 1, xs, n, 0, 1, grads);
  CHECK(ok, "%s: grad failed: %s", name, cil_errmsg());
  if (!ok) return;
  double *ga[4];
  to_doubles(grads, xs, n, ga);
  cil_arena_reset();
  int bad = compare_fd(name, "d/dx", f, n, xs, eval_s, ga, 5e-3, 3e-2);
  CHECK(bad == 0, "%s: first derivative mismatch", name);
  cil_arena_reset();
}

/* second derivative: H(x) = sum_i <v_i, d s/d x_i>; check dH/dx (create_graph) against FD of H
 * computed from analytic first derivatives. */
static double *g_v[4];
static double eval_H(fn_t f, cil_tensor **xs, int n) {
  cil_tensor *out = f(xs);
  cil_tensor *s = cil_reduce(CIL_SUM, cil_binary(CIL_MUL, out, weights_tensor(out)), CIL_ALLDIMS, 0);
  cil_tensor *g[4] = {0};
  cil_grad(&s, NULL, 1, xs, n, 0, 1, g);
  double H = 0;
  for (int i = 0; i < n; i++)
    if (g[i])
      for (int64_t j = 0; j < xs[i]->numel; j++) H += g_v[i][j] * g[i]->data[j];
  cil_arena_reset();
  return H;
}
static void hesscheck(const char *name, fn_t f, int n, cil_tensor **xs) {
  cil_tensor *out = f(xs);
  if (!out) {
    CHECK(0, "%s: forward failed: %s", name, cil_errmsg());
    return;
  }
  set_weights(out->numel);
  for (int i = 0; i < n; i++) {
    g_v[i] = realloc(g_v[i], xs[i]->numel * sizeof(double));
    for (int64_t j = 0; j < xs[i]->numel; j++) g_v[i][j] = cil_rng_uniform(&R) * 2 - 1;
  }
  cil_tensor *s = cil_reduce(CIL_SUM, cil_binary(CIL_MUL, out, weights_tensor(out)), CIL_ALLDIMS, 0);
  cil_tensor *g[4] = {0};
  int ok = cil_grad(&s, NULL, 1, xs, n, 1, 1, g);
  CHECK(ok, "%s: grad(create_graph) failed: %s", name, cil_errmsg());
  if (!ok) return;
  cil_tensor *H = NULL;
  for (int i = 0; i < n; i++) {
    if (!g[i] || !g[i]->requires_grad) continue; /* linear in x_i: no second-order term */
    cil_tensor *v = cil_new_like(xs[i]);
    for (int64_t j = 0; j < v->numel; j++) v->data[j] = (float)g_v[i][j];
    cil_tensor *term = cil_reduce(CIL_SUM, cil_binary(CIL_MUL, g[i], v), CIL_ALLDIMS, 0);
    H = H ? cil_binary(CIL_ADD, H, term) : term;
  }
  cil_tensor *hv[4] = {0};
  if (H) {
    ok = cil_grad(&H, NULL, 1, xs, n, 0, 1, hv);
    CHECK(ok, "%s: grad of grad failed: %s", name, cil_errmsg());
    if (!ok) return;
  }
  double *hvd[4];
  to_doubles(hv, xs, n, hvd);
  cil_arena_reset();
  int bad = compare_fd(name, "d2", f, n, xs, eval_H, hvd, 1e-2, 5e-2);
  CHECK(bad == 0, "%s: second derivative mismatch", name);
  cil_arena_reset();
}

static void check_both(const char *name, fn_t f, int n, cil_tensor **xs) {
  gradcheck(name, f, n, xs);
  hesscheck(name, f, n, xs);
  for (int i = 0; i < n; i++) cil_release(xs[i]);
}

/* ---------------------------------------------------------------- op wrappers */
#define B(op) cil_binary(op, x[0], x[1])
#define U(op) cil_unary(op, x[0])
/* make unary ops non-trivially second-order by multiplying with the input */
static cil_tensor *f_add(cil_tensor **x) { return cil_unary(CIL_SQUARE, B(CIL_ADD)); }
static cil_tensor *f_sub(cil_tensor **x) { return cil_unary(CIL_SQUARE, B(CIL_SUB)); }
static cil_tensor *f_mul(cil_tensor **x) { return B(CIL_MUL); }
static cil_tensor *f_div(cil_tensor **x) { return B(CIL_DIV); }
static cil_tensor *f_pow(cil_tensor **x) { return B(CIL_POW); }
static cil_tensor *f_powc(cil_tensor **x) { return cil_binary_s(CIL_POW, x[0], 3.0f); }
static cil_tensor *f_min(cil_tensor **x) { return cil_binary(CIL_MUL, B(CIL_MINIMUM), x[0]); }
static cil_tensor *f_max(cil_tensor **x) { return cil_binary(CIL_MUL, B(CIL_MAXIMUM), x[1]); }
static cil_tensor *f_neg(cil_tensor **x) { return cil_binary(CIL_MUL, U(CIL_NEG), x[0]); }
static cil_tensor *f_exp(cil_tensor **x) { return U(CIL_EXP); }
static cil_tensor *f_log(cil_tensor **x) { return U(CIL_LOG); }
static cil_tensor *f_sqrt(cil_tensor **x) { return U(CIL_SQRT); }
static cil_tensor *f_square(cil_tensor **x) { return cil_binary(CIL_MUL, U(CIL_SQUARE), x[0]); }
static cil_tensor *f_abs(cil_tensor **x) { return cil_binary(CIL_MUL, U(CIL_ABS), x[0]); }
static cil_tensor *f_tanh(cil_tensor **x) { return U(CIL_TANH); }
static cil_tensor *f_atanh(cil_tensor **x) { return U(CIL_ATANH); }
static cil_tensor *f_sigmoid(cil_tensor **x) { return U(CIL_SIGMOID); }
static cil_tensor *f_softplus(cil_tensor **x) { return U(CIL_SOFTPLUS); }
static cil_tensor *f_relu(cil_tensor **x) { return cil_binary(CIL_MUL, U(CIL_RELU), x[0]); }
static cil_tensor *f_silu(cil_tensor **x) { return U(CIL_SILU); }
static cil_tensor *f_silu_d(cil_tensor **x) { return U(CIL_SILU_D); }
static cil_tensor *f_leaky(cil_tensor **x) { return cil_binary(CIL_MUL, cil_leaky_relu(x[0], 0.1f), x[0]); }
static cil_tensor *f_clamp(cil_tensor **x) { return cil_binary(CIL_MUL, cil_clamp(x[0], -0.5f, 0.5f), x[0]); }
static cil_tensor *f_affine(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_affine(x[0], 1.5f, -0.3f)); }
static cil_tensor *f_where(cil_tensor **x) {
  cil_tensor *c = cil_binary_s(CIL_GT, x[0], 0.0f);
  return cil_binary(CIL_MUL, cil_where(c, x[0], x[1]), x[1]);
}
static cil_tensor *f_expand(cil_tensor **x) {
  int s[3] = {4, 3, 5};
  return cil_unary(CIL_SQUARE, cil_expand(x[0], 3, s));
}
static cil_tensor *f_sum_to(cil_tensor **x) {
  int s[2] = {1, 5};
  return cil_unary(CIL_SQUARE, cil_sum_to(x[0], 2, s));
}
static cil_tensor *f_reshape(cil_tensor **x) {
  int s[2] = {-1, 6};
  return cil_binary(CIL_MUL, cil_reshape(x[0], 2, s), cil_reshape(x[0], 2, s));
}
static cil_tensor *f_transpose(cil_tensor **x) { return cil_binary(CIL_MUL, cil_transpose(x[0]), x[1]); }
static cil_tensor *f_narrow0(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_narrow(x[0], 0, 1, 2)); }
static cil_tensor *f_narrow1(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_narrow(x[0], 1, 2, 3)); }
static cil_tensor *f_cat(cil_tensor **x) {
  cil_tensor *xs[3] = {x[0], x[1], x[0]};
  return cil_unary(CIL_SQUARE, cil_cat(xs, 3, 1));
}
static cil_tensor *f_stack(cil_tensor **x) {
  cil_tensor *xs[2] = {x[0], x[1]};
  return cil_unary(CIL_SQUARE, cil_stack(xs, 2, 0));
}
static cil_tensor *f_isel(cil_tensor **x) {
  float id[5] = {2, 0, 2, 3, 1};
  int s = 5;
  return cil_unary(CIL_SQUARE, cil_index_select(x[0], 0, cil_from(1, &s, id), 0));
}
static cil_tensor *f_isel1(cil_tensor **x) {
  float id[3] = {5, 5, 1};
  int s = 3;
  return cil_unary(CIL_SQUARE, cil_index_select(x[0], 1, cil_from(1, &s, id), 1));
}
static cil_tensor *f_gather(cil_tensor **x) {
  float id[4 * 2] = {0, 2, 1, 1, 2, 0, 0, 0};
  int s[2] = {4, 2};
  return cil_unary(CIL_SQUARE, cil_gather(x[0], 1, cil_from(2, s, id), 0));
}
static cil_tensor *f_clone(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_clone(x[0])); }
static cil_tensor *f_sum1(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_reduce(CIL_SUM, x[0], 1, 0)); }
static cil_tensor *f_sumall(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_reduce(CIL_SUM, x[0], CIL_ALLDIMS, 0)); }
static cil_tensor *f_mean0(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_reduce(CIL_MEAN, x[0], 0, 1)); }
static cil_tensor *f_max1(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_reduce(CIL_MAX, x[0], -1, 0)); }
static cil_tensor *f_min0(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_reduce(CIL_MIN, x[0], 0, 0)); }
static cil_tensor *f_maxall(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_reduce(CIL_MAX, x[0], CIL_ALLDIMS, 0)); }
static cil_tensor *f_lse(cil_tensor **x) { return cil_reduce(CIL_LOGSUMEXP, x[0], 1, 0); }
static cil_tensor *f_norm(cil_tensor **x) { return cil_norm(x[0], 1, 0); }
static cil_tensor *f_mm00(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_mm(x[0], x[1], 0, 0)); }
static cil_tensor *f_mm01(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_mm(x[0], x[1], 0, 1)); }
static cil_tensor *f_mm10(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_mm(x[0], x[1], 1, 0)); }
static cil_tensor *f_mm11(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_mm(x[0], x[1], 1, 1)); }
static cil_tensor *f_bmm(cil_tensor **x) { return cil_unary(CIL_SQUARE, cil_matmul(x[0], x[1])); }
static cil_tensor *f_elinear(cil_tensor **x) { return cil_unary(CIL_SILU, cil_elinear(x[0], x[1], x[2])); }
static cil_tensor *f_linear(cil_tensor **x) { return cil_unary(CIL_SILU, cil_linear(x[0], x[1], x[2])); }
static cil_tensor *f_linear_nb(cil_tensor **x) { return cil_unary(CIL_TANH, cil_linear(x[0], x[1], NULL)); }
/* the gradient penalty pattern: inf-norm of d f / d x of a small silu MLP, margin-squared */
static cil_tensor *f_gp(cil_tensor **x) {
  cil_tensor *xin = x[0], *w1 = x[1], *w2 = x[2];
  cil_tensor *h = cil_unary(CIL_SILU, cil_linear(xin, w1, NULL));
  cil_tensor *y = cil_clamp(cil_linear(h, w2, NULL), -10.0f, 10.0f);
  cil_tensor *s = cil_reduce(CIL_SUM, y, CIL_ALLDIMS, 0);
  cil_tensor *g = NULL;
  cil_grad(&s, NULL, 1, &xin, 1, 1, 0, &g);
  cil_tensor *n = cil_reduce(CIL_MAX, cil_unary(CIL_ABS, g), 1, 0);
  cil_tensor *m = cil_binary_s(CIL_MAXIMUM, cil_binary_s(CIL_SUB, n, 0.05f), 0.0f);
  return cil_unary(CIL_SQUARE, m);
}

/* backward() adds weight gradients straight into persistent .grad (GEMM with beta = 1): the result
 * must equal grad() plus what .grad held before */
static void check_direct(const char *name, fn_t f, int n, cil_tensor **xs) {
  cil_tensor *out = f(xs);
  set_weights(out->numel);
  cil_tensor *s = cil_reduce(CIL_SUM, cil_binary(CIL_MUL, out, weights_tensor(out)), CIL_ALLDIMS, 0);
  cil_tensor *g[4] = {0};
  int ok = cil_grad(&s, NULL, 1, xs, n, 0, 1, g);
  double *want[4];
  for (int i = 0; i < n; i++) {
    want[i] = malloc(xs[i]->numel * sizeof(double));
    if (!xs[i]->grad) xs[i]->grad = cil_persistent(xs[i]->ndim, xs[i]->shape);
    for (int64_t j = 0; j < xs[i]->numel; j++) {
      xs[i]->grad->data[j] = 0.25f * (float)(j % 5); /* something already accumulated */
      want[i][j] = xs[i]->grad->data[j] + (g[i] ? g[i]->data[j] : 0.0);
    }
  }
  ok = ok && cil_backward(s, NULL, NULL, 0, 0);
  CHECK(ok, "%s: backward failed: %s", name, cil_errmsg());
  int bad = 0;
  for (int i = 0; i < n; i++) {
    for (int64_t j = 0; j < xs[i]->numel; j++)
      if (fabs(xs[i]->grad->data[j] - want[i][j]) > 1e-5 * (1 + fabs(want[i][j]))) bad++;
    free(want[i]);
    cil_release(xs[i]);
  }
  CHECK(bad == 0, "%s: direct weight-gradient accumulation differs from grad() (%d entries)", name, bad);
  cil_arena_reset();
}

int main(void) {
  cil_rng_seed(&R, 1234);
  int s23[2] = {2, 3}, s35[2] = {3, 5}, s45[2] = {4, 5}, s5[1] = {5}, s1x5[2] = {1, 5};
  int s34[2] = {3, 4}, s24[2] = {2, 4}, s43[2] = {4, 3}, s234[3] = {2, 3, 4};
  cil_tensor *x[4];
#define RUN(name, fn, n) check_both(name, fn, n, x)
  x[0] = mk(2, s23, -1, 1); x[1] = mk(2, s23, -1, 1); RUN("add", f_add, 2);
  x[0] = mk(2, s45, -1, 1); x[1] = mk(1, s5, -1, 1); RUN("add broadcast", f_add, 2);
  x[0] = mk(2, s45, -1, 1); x[1] = mk(2, s1x5, -1, 1); RUN("sub broadcast", f_sub, 2);
  x[0] = mk(2, s23, -1, 1); x[1] = mk(0, NULL, -1, 1); RUN("mul scalar", f_mul, 2);
  { int a[3] = {3, 1, 5}, b[2] = {4, 1}; x[0] = mk(3, a, -1, 1); x[1] = mk(2, b, -1, 1); RUN("mul broadcast both", f_mul, 2); }
  x[0] = mk(2, s23, -1, 1); x[1] = mk(2, s23, 0.5f, 2); RUN("div", f_div, 2);
  x[0] = mk(2, s23, 0.5f, 2); x[1] = mk(2, s23, -1.5f, 1.5f); RUN("pow", f_pow, 2);
  x[0] = mk(2, s23, -2, 2); RUN("pow const", f_powc, 1);
  x[0] = mk(2, s23, -1, 1); x[1] = mk(2, s23, -1, 1);
  for (int i = 0; i < 6; i++) if (fabsf(x[0]->data[i] - x[1]->data[i]) < 0.05f) x[1]->data[i] += 0.2f;
  RUN("minimum", f_min, 2);
  x[0] = mk(2, s23, -1, 1); x[1] = mk(2, s23, -1, 1);
  for (int i = 0; i < 6; i++) if (fabsf(x[0]->data[i] - x[1]->data[i]) < 0.05f) x[1]->data[i] += 0.2f;
  RUN("maximum", f_max, 2);
  x[0] = mk(2, s23, -1, 1); RUN("neg", f_neg, 1);
  x[0] = mk(2, s23, -1, 1); RUN("exp", f_exp, 1);
  x[0] = mk(2, s23, 0.3f, 2); RUN("log", f_log, 1);
  x[0] = mk(2, s23, 0.3f, 2); RUN("sqrt", f_sqrt, 1);
  x[0] = mk(2, s23, -1, 1); RUN("square", f_square, 1);
  x[0] = mk_gap(2, s23, 1, 0.05f); RUN("abs", f_abs, 1);
  x[0] = mk(2, s23, -1.5f, 1.5f); RUN("tanh", f_tanh, 1);
  x[0] = mk(2, s23, -0.7f, 0.7f); RUN("atanh", f_atanh, 1);
  x[0] = mk(2, s23, -2, 2); RUN("sigmoid", f_sigmoid, 1);
  x[0] = mk(2, s23, -3, 3); RUN("softplus", f_softplus, 1);
  x[0] = mk_gap(2, s23, 1, 0.05f); RUN("relu", f_relu, 1);
  x[0] = mk(2, s23, -3, 3); RUN("silu", f_silu, 1);
  x[0] = mk(2, s23, -3, 3); RUN("silu_d", f_silu_d, 1);
  x[0] = mk_gap(2, s23, 1, 0.05f); RUN("leaky_relu", f_leaky, 1);
  x[0] = mk(2, s34, -1, 1);
  for (int i = 0; i < 12; i++) if (fabsf(fabsf(x[0]->data[i]) - 0.5f) < 0.05f) x[0]->data[i] *= 0.7f;
  RUN("clamp", f_clamp, 1);
  x[0] = mk(2, s23, -1, 1); RUN("affine", f_affine, 1);
  x[0] = mk_gap(2, s23, 1, 0.05f); x[1] = mk(2, s23, -1, 1); RUN("where", f_where, 2);
  { int a[2] = {3, 1}; x[0] = mk(2, a, -1, 1); RUN("expand", f_expand, 1); }
  x[0] = mk(2, s45, -1, 1); RUN("sum_to", f_sum_to, 1);
  x[0] = mk(2, s34, -1, 1); RUN("reshape", f_reshape, 1);
  x[0] = mk(2, s23, -1, 1); { int a[2] = {3, 2}; x[1] = mk(2, a, -1, 1); } RUN("transpose", f_transpose, 2);
  x[0] = mk(2, s45, -1, 1); RUN("narrow dim1 (view)", f_narrow0, 1);
  x[0] = mk(2, s45, -1, 1); RUN("narrow dim2 (copy)", f_narrow1, 1);
  x[0] = mk(2, s23, -1, 1); x[1] = mk(2, s24, -1, 1); RUN("cat", f_cat, 2);
  x[0] = mk(2, s23, -1, 1); x[1] = mk(2, s23, -1, 1); RUN("stack", f_stack, 2);
  x[0] = mk(2, s45, -1, 1); RUN("index_select dim1", f_isel, 1);
  x[0] = mk(2, s45, -1, 1); RUN("index_select dim2", f_isel1, 1);
  x[0] = mk(2, s43, -1, 1); RUN("gather", f_gather, 1);
  x[0] = mk(2, s23, -1, 1); RUN("clone", f_clone, 1);
  x[0] = mk(3, s234, -1, 1); RUN("sum dim", f_sum1, 1);
  x[0] = mk(2, s34, -1, 1); RUN("sum all", f_sumall, 1);
  x[0] = mk(3, s234, -1, 1); RUN("mean keepdim", f_mean0, 1);
  x[0] = mk(2, s34, -1, 1); RUN("max dim", f_max1, 1);
  x[0] = mk(2, s34, -1, 1); RUN("min dim", f_min0, 1);
  x[0] = mk(2, s34, -1, 1); x[0]->data[7] = 1.3f; RUN("max all (clear winner)", f_maxall, 1);
  x[0] = mk(2, s35, -2, 2); RUN("logsumexp", f_lse, 1);
  x[0] = mk(2, s35, -2, 2); RUN("norm", f_norm, 1);
  x[0] = mk(2, s23, -1, 1); x[1] = mk(2, s35, -1, 1); RUN("mm", f_mm00, 2);
  x[0] = mk(2, s23, -1, 1); x[1] = mk(2, s43, -1, 1); RUN("mm b^T", f_mm01, 2);
  x[0] = mk(2, s34, -1, 1); x[1] = mk(2, s35, -1, 1); RUN("mm a^T", f_mm10, 2);
  x[0] = mk(2, s34, -1, 1); x[1] = mk(2, s23, -1, 1); RUN("mm a^T b^T", f_mm11, 2);
  { int a[3] = {2, 4, 5}, b[3] = {2, 5, 3};
    x[0] = mk(3, a, -1, 1); x[1] = mk(3, b, -1, 1); RUN("matmul batched", f_bmm, 2); }
  { int a[2] = {4, 5}, b[3] = {2, 5, 3}; x[0] = mk(2, a, -1, 1); x[1] = mk(3, b, -1, 1); RUN("matmul shared lhs", f_bmm, 2); }
  { int a[3] = {2, 4, 5}, b[2] = {5, 3}; x[0] = mk(3, a, -1, 1); x[1] = mk(2, b, -1, 1); RUN("matmul shared rhs", f_bmm, 2); }
  { int a[2] = {5, 4}, w[2] = {3, 4}, b[1] = {3};
    x[0] = mk(2, a, -1, 1); x[1] = mk(2, w, -1, 1); x[2] = mk(1, b, -1, 1); RUN("linear", f_linear, 3); }
  { int a[3] = {2, 5, 4}, w[3] = {2, 4, 3}, b[3] = {2, 1, 3};
    x[0] = mk(3, a, -1, 1); x[1] = mk(3, w, -1, 1); x[2] = mk(3, b, -1, 1); RUN("ensemble linear", f_elinear, 3); }
  { int a[2] = {5, 4}, w[3] = {3, 4, 2}, b[3] = {3, 1, 2};
    x[0] = mk(2, a, -1, 1); x[1] = mk(3, w, -1, 1); x[2] = mk(3, b, -1, 1); RUN("ensemble linear shared input", f_elinear, 3); }
  { int a[3] = {2, 3, 4}, w[2] = {3, 4};
    x[0] = mk(3, a, -1, 1); x[1] = mk(2, w, -1, 1); RUN("linear 3-D no bias", f_linear_nb, 2); }
  { int a[2] = {6, 3}, w1[2] = {8, 3}, w2[2] = {1, 8};
    x[0] = mk(2, a, -1, 1); x[1] = mk(2, w1, -1, 1); x[2] = mk(2, w2, -1, 1);
    gradcheck("gradient penalty (first derivative of a grad-of-grad loss)", f_gp, 3, x);
    for (int i = 0; i < 3; i++) cil_release(x[i]); }
  { int a[2] = {6, 4}, w[2] = {5, 4}, b[1] = {5};
    x[0] = mk(2, a, -1, 1); x[1] = mk(2, w, -1, 1); x[2] = mk(1, b, -1, 1);
    check_direct("linear: backward into .grad", f_linear, 3, x); }
  { int a[3] = {2, 4, 5}, b[3] = {2, 5, 3};
    x[0] = mk(3, a, -1, 1); x[1] = mk(3, b, -1, 1); check_direct("matmul batched: backward into .grad", f_bmm, 2, x); }
  { int a[2] = {4, 5}, b[3] = {3, 5, 2};
    x[0] = mk(2, a, -1, 1); x[1] = mk(3, b, -1, 1); check_direct("matmul shared lhs: backward into .grad", f_bmm, 2, x); }
  { int a[3] = {2, 6, 4}, w[3] = {2, 4, 3}, b[3] = {2, 1, 3};
    x[0] = mk(3, a, -1, 1); x[1] = mk(3, w, -1, 1); x[2] = mk(3, b, -1, 1);
    check_direct("ensemble linear: backward into .grad", f_elinear, 3, x); }
  { int a[2] = {6, 4}, w[3] = {2, 4, 3}, b[3] = {2, 1, 3};
    x[0] = mk(2, a, -1, 1); x[1] = mk(3, w, -1, 1); x[2] = mk(3, b, -1, 1);
    check_direct("ensemble linear shared: backward into .grad", f_elinear, 3, x); }
  return test_summary();
}
