/* Hardening of the engine core and data layer (issue 15): sizes that would overflow, NaN / inf / huge
 * indices, randint at the integer limits, a zero-width linear layer, the norm's gradient at 0, NaN into
 * the vectorized exp, and HDF5 trees nested deeper than any reader should recurse.
 *
 * Also a helper mode for the Lua specs, which cannot write such files themselves:
 *   test_hardening --deep-checkpoint PATH N    writes a valid checkpoint whose tables nest N deep */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "data/h5io.h"

/* a checkpoint "t/t/.../t" (depth groups) holding leaf = 7 at the bottom */
static int write_deep_checkpoint(const char *path, int depth) {
  char p[4096] = "";
  cil_h5w *w = cil_h5w_create(path, 1);
  if (!w) return 0;
  for (int i = 0; i < depth; i++) {
    strcat(p, i ? "/t" : "t");
    if (!cil_h5w_group(w, p, "table")) {
      cil_h5w_abort(w);
      return 0;
    }
  }
  strcat(p, "/leaf");
  if (!cil_h5w_int(w, p, 7, NULL)) {
    cil_h5w_abort(w);
    return 0;
  }
  return cil_h5w_commit(w);
}

static void test_sizes(void) {
  int big[4] = {65536, 65536, 65536, 65536}; /* 2^64 elements: wrapped to 0 before */
  CHECK(!cil_zeros(4, big) && strstr(cil_errmsg(), "too large"), "65536^4 refused: %s", cil_errmsg());
  int zbig[4] = {0, 65536, 65536, 65536}; /* 0 elements, but its other sizes multiply past an int */
  CHECK(!cil_zeros(4, zbig) && strstr(cil_errmsg(), "too large"), "0 x 2^48 refused: %s", cil_errmsg());
  int ok[4] = {0, 3, 5, 7};
  cil_tensor *e = cil_zeros(4, ok);
  CHECK(e && e->numel == 0, "an empty tensor is still fine");
  /* expand to a shape whose product wraps: an error, not writes past a 0-element buffer */
  int one[1] = {1};
  cil_tensor *x = cil_full(1, one, 2.0f);
  CHECK(!cil_expand(x, 4, big), "expand to 65536^4 refused: %s", cil_errmsg());
  /* reshape: sizes multiplying (with wrap-around) to the element count are refused */
  CHECK(!cil_reshape(e, 4, big) && strstr(cil_errmsg(), "reshape"), "reshape to 65536^4 refused: %s",
        cil_errmsg());
  int s6[1] = {6}, bad[4] = {65536, 65536, 65536, 65536};
  cil_tensor *six = cil_zeros(1, s6);
  CHECK(!cil_reshape(six, 4, bad), "reshape [6] to 65536^4 refused");
  cil_arena_reset();
}

static void test_indices(void) {
  int s3[2] = {3, 2}, s1[1] = {1};
  cil_tensor *x = cil_full(2, s3, 1.0f);
  float bad[] = {NAN, INFINITY, -INFINITY, 1e30f, 9.3e18f, -9.3e18f, 0.0f, 4.0f, 1.5f};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cil_tensor *idx = cil_full(1, s1, bad[i]);
    CHECK(!cil_index_select(x, 0, idx, 1), "index_select with %g refused", (double)bad[i]);
    int gs[2] = {1, 2};
    cil_tensor *gi = cil_full(2, gs, bad[i]);
    CHECK(!cil_gather(x, 0, gi, 1), "gather with %g refused", (double)bad[i]);
  }
  cil_tensor *nan = cil_full(1, s1, NAN);
  CHECK(!cil_index_select(x, 0, nan, 1) && strstr(cil_errmsg(), "index NaN out of range"), "NaN named: %s",
        cil_errmsg());
  cil_tensor *two = cil_full(1, s1, 2.0f);
  cil_tensor *r = cil_index_select(x, 0, two, 1);
  CHECK(r && r->shape[0] == 1 && r->data[0] == 1.0f, "a good index still works");
  cil_arena_reset();
}

static void test_randint_limits(void) {
  cil_rng g;
  cil_rng_seed(&g, 1);
  int s[1] = {4};
  CHECK(!cil_randint(&g, 1, s, INT64_MIN, INT64_MAX), "randint over the whole int64 range refused");
  CHECK(!cil_randint(&g, 1, s, INT64_MAX - 1, INT64_MAX), "randint near INT64_MAX refused");
  CHECK(!cil_randint(&g, 1, s, INT64_MIN, INT64_MIN + 1), "randint near INT64_MIN refused");
  cil_tensor *t = cil_randint(&g, 1, s, -3, 3);
  int in = t != NULL;
  for (int i = 0; t && i < 4; i++) in = in && t->data[i] >= -3 && t->data[i] < 3;
  CHECK(in, "randint in [-3, 3) still works");
  cil_arena_reset();
}

static void test_linear_zero_width(void) {
  int sx[2] = {2, 0}, sw[2] = {3, 0};
  cil_tensor *x = cil_persistent(2, sx), *w = cil_persistent(2, sw);
  w->requires_grad = 1;
  x->requires_grad = 1;
  CHECK(!cil_linear(x, w, NULL) && strstr(cil_errmsg(), "0 features"), "linear with 0 inputs refused: %s",
        cil_errmsg());
  int ex[3] = {2, 4, 0}, ew[3] = {2, 0, 5};
  cil_tensor *xe = cil_zeros(3, ex), *we = cil_zeros(3, ew);
  CHECK(!cil_elinear(xe, we, NULL), "ensemble linear with 0 inputs refused");
  cil_release(x);
  cil_release(w);
  cil_arena_reset();
}

static void test_norm_grad_at_zero(void) {
  int s[2] = {2, 2};
  cil_tensor *x = cil_persistent(2, s);
  x->data[2] = 3.0f;
  x->data[3] = 4.0f; /* rows: [0, 0] and [3, 4] */
  x->requires_grad = 1;
  cil_tensor *y = cil_reduce(CIL_SUM, cil_norm(x, 1, 0), CIL_ALLDIMS, 0);
  CHECK(y && cil_backward(y, NULL, NULL, 0, 0), "norm backward: %s", cil_errmsg());
  CHECK(x->grad && x->grad->data[0] == 0.0f && x->grad->data[1] == 0.0f, "zero row: gradient 0 (was NaN): %g %g",
        x->grad ? x->grad->data[0] : -1, x->grad ? x->grad->data[1] : -1);
  CHECK_NEAR(x->grad->data[2], 0.6, 1e-6, "x/|x| on a non-zero row");
  CHECK_NEAR(x->grad->data[3], 0.8, 1e-6, "x/|x| on a non-zero row");
  /* second order stays finite at the zero row */
  cil_tensor *g[1];
  cil_tensor *ins[1] = {x};
  cil_tensor *y2 = cil_reduce(CIL_SUM, cil_norm(x, 1, 0), CIL_ALLDIMS, 0);
  CHECK(cil_grad(&y2, NULL, 1, ins, 1, 1, 0, g), "first grad");
  cil_tensor *h = cil_reduce(CIL_SUM, cil_unary(CIL_SQUARE, g[0]), CIL_ALLDIMS, 0);
  cil_tensor *gg[1];
  CHECK(h && cil_grad(&h, NULL, 1, ins, 1, 0, 0, gg), "second grad");
  int finite = 1;
  for (int i = 0; i < 4; i++) finite = finite && isfinite(gg[0]->data[i]);
  CHECK(finite, "gradient of the gradient is finite");
  cil_release(x);
  cil_arena_reset();
}

static void test_nan_activations(void) {
  /* 37 values: two 16-wide vector blocks and a ragged tail, NaN in each part */
  int s[1] = {37};
  cil_tensor *x = cil_full(1, s, 0.5f);
  x->data[3] = NAN;
  x->data[20] = NAN;
  x->data[36] = NAN;
  x->data[5] = INFINITY;
  x->data[6] = -INFINITY;
  cil_unop ops[2] = {CIL_SIGMOID, CIL_SILU};
  for (int k = 0; k < 2; k++) {
    cil_tensor *y = cil_unary(ops[k], x);
    CHECK(y && isnan(y->data[3]) && isnan(y->data[20]) && isnan(y->data[36]), "op %d: NaN stays NaN", k);
    /* sigmoid(+-inf) = 1, 0; silu(inf) = inf (silu(-inf) is tensor_spec's business) */
    CHECK(y && y->data[5] == (k ? INFINITY : 1.0f) && (k || y->data[6] == 0.0f), "op %d: at +-inf", k);
  }
  cil_arena_reset();
}

static void test_deep_trees(const char *dir) {
  char p[512];
  snprintf(p, sizeof p, "%s/deep300.h5", dir);
  CHECK(write_deep_checkpoint(p, 300), "write a 300-deep checkpoint: %s", cil_errmsg());
  cil_h5node *root = cil_h5_read_tree(p, "/", 1);
  CHECK(root != NULL, "300 levels read: %s", cil_errmsg());
  int depth = 0;
  const cil_h5node *n = root;
  while (n && cil_h5_find(n, "t")) {
    n = cil_h5_find(n, "t");
    depth++;
  }
  CHECK(depth == 300 && n && cil_h5_find(n, "leaf") && cil_h5_find(n, "leaf")->i == 7, "tree 300 deep, leaf 7");
  cil_h5_free_tree(root);
  snprintf(p, sizeof p, "%s/deep600.h5", dir);
  CHECK(write_deep_checkpoint(p, 600), "write a 600-deep checkpoint: %s", cil_errmsg());
  root = cil_h5_read_tree(p, "/", 1);
  CHECK(!root && strstr(cil_errmsg(), "nested more than"), "600 levels: a clear error: %s", cil_errmsg());
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "--deep-checkpoint")) {
    if (!write_deep_checkpoint(argv[2], atoi(argv[3]))) {
      fprintf(stderr, "%s\n", cil_errmsg());
      return 1;
    }
    return 0;
  }
  char dir[256]; /* a fresh directory under $TMPDIR (as mktemp -d) */
  const char *tmpdir = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/cil_test_hardening_XXXXXX", tmpdir && *tmpdir ? tmpdir : P_tmpdir);
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_sizes();
  test_indices();
  test_randint_limits();
  test_linear_zero_width();
  test_norm_grad_at_zero();
  test_nan_activations();
  test_deep_trees(dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_summary();
}
