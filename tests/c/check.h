/* Minimal test helpers for the C unit tests: CHECK counts failures, the last line of output is
 * "N passed, N failed" (read by CI), and the exit code is non-zero on any failure. */
#ifndef CIL_TEST_CHECK_H
#define CIL_TEST_CHECK_H
#include <math.h>
#include <stdio.h>

static int t_pass = 0, t_fail = 0;
#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (cond) t_pass++;                                                                            \
    else {                                                                                         \
      t_fail++;                                                                                    \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                        \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
    }                                                                                              \
  } while (0)
#define CHECK_NEAR(a, b, tol, what)                                                                \
  CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s: %.8g vs %.8g (tol %g)", what, (double)(a),  \
        (double)(b), (double)(tol))
static int test_summary(void) {
  printf("%d passed, %d failed\n", t_pass, t_fail);
  return t_fail ? 1 : 0;
}
#endif
