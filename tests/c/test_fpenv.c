/* engine/core/fpenv.c: every thread that computes for us follows the subnormal setting. A job of two
 * tasks where task 0 waits for task 1 to start must run on two threads (the caller and a pool worker);
 * each task reads its own MXCSR. The workers are started before the setting changes, so they follow
 * it by the per-job sync, not by inheriting the creator's MXCSR. */
#include <stdatomic.h>
#include <time.h>
#include <xmmintrin.h>
#include "../../engine/core/internal.h"
#include "check.h"

static _Atomic int started1;
static unsigned csr[2];
static int timed_out;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static void task(int k, int nt, void *ctx) {
  (void)nt, (void)ctx;
  csr[k] = _mm_getcsr();
  if (k == 1) atomic_store(&started1, 1);
  else {
    double t0 = now();
    while (!atomic_load(&started1))
      if (now() - t0 > 20) { timed_out = 1; break; } /* a pool that never runs task 1: fail, not hang */
  }
}
static void run_job(void) {
  atomic_store(&started1, 0);
  csr[0] = csr[1] = 0xdeadu;
  cil_pool_run(2, task, NULL);
}

int main(void) {
  const unsigned ftz_daz = 0x8040u;
  CHECK(cil_get_flush_subnormals() == 1, "flushing is the default");
  cil_set_flush_subnormals(1);
  cil_pool_resize(2);
  CHECK(cil_pool_size() == 2, "pool of 2");
  run_job();
  CHECK(!timed_out, "two threads ran the job");
  for (int k = 0; k < 2; k++) CHECK((csr[k] & ftz_daz) == ftz_daz, "task %d: FTZ+DAZ set (mxcsr %#x)", k, csr[k]);
  cil_set_flush_subnormals(0);
  run_job();
  for (int k = 0; k < 2; k++) CHECK((csr[k] & ftz_daz) == 0, "task %d: FTZ+DAZ clear after off (mxcsr %#x)", k, csr[k]);
  cil_set_flush_subnormals(1);
  run_job();
  for (int k = 0; k < 2; k++) CHECK((csr[k] & ftz_daz) == ftz_daz, "task %d: set again (mxcsr %#x)", k, csr[k]);
  /* apply/restore round-trips the caller's MXCSR (the deploy API's wrapper) */
  unsigned before = _mm_getcsr();
  unsigned saved = cil_fpenv_apply(0);
  CHECK(saved == before && (_mm_getcsr() & ftz_daz) == 0, "apply(0) clears and returns the old MXCSR");
  cil_fpenv_restore(saved);
  CHECK(_mm_getcsr() == before, "restore");
  /* the product the setting is for: 2^-100 * 2^-30 is subnormal unless flushed */
  volatile float a = 0x1p-100f, b = 0x1p-30f;
  CHECK(a * b == 0.0f, "flushed product is 0");
  cil_set_flush_subnormals(0);
  CHECK(a * b == 0x1p-130f, "gradual underflow when off");
  cil_pool_resize(1);
  return test_summary();
}
