/* Subnormal floats are flushed to zero on every thread that computes for us.
 *
 * On Intel cores an SSE/AVX operation whose operand or result is subnormal (|x| < 1.18e-38 in float32)
 * takes a microcode assist: a 256 x 256 x 256 product with subnormal inputs ran 70x to 140x slower than
 * with normal ones on the Xeon of sessions 11 and 12 (bench/subnormal.lua; Zen cores not measured). Training makes such numbers by itself:
 * gradients through SiLU's far negative tail and Adam's decaying moments underflow, and a RECOIL run on
 * hopper slowed from 57 to about 22 updates/s over its first 140,000 steps, 88 % of its time in GEMM.
 * So, as torch.set_flush_denormal(True) does in PyTorch (where it is off by default), the MXCSR's FTZ bit (a result that would be
 * subnormal is 0) and DAZ bit (a subnormal input reads as 0) are set: on the main thread when the
 * library opens, on each pool or environment worker before each job, and around each call of the C
 * deploy API (which restores its caller's MXCSR). cil_set_flush_subnormals(0) restores IEEE gradual
 * underflow everywhere. MXCSR also governs SSE double arithmetic, so MuJoCo's doubles below 2.2e-308
 * are flushed as well. */
#include <stdatomic.h>
#include "internal.h"
#if defined(__SSE__)
#include <xmmintrin.h>
#define CIL_FTZ_DAZ 0x8040u
#endif

static _Atomic int g_flush = 1;
static _Thread_local int t_applied = -1; /* what this thread's MXCSR holds, -1 = not set by us */

unsigned cil_fpenv_apply(int on) {
#if defined(__SSE__)
  unsigned old = _mm_getcsr();
  _mm_setcsr(on ? (old | CIL_FTZ_DAZ) : (old & ~CIL_FTZ_DAZ));
  return old;
#else
  (void)on;
  return 0;
#endif
}

void cil_fpenv_restore(unsigned saved) {
#if defined(__SSE__)
  _mm_setcsr(saved);
#else
  (void)saved;
#endif
}

/* bring this thread's MXCSR in line with the setting (one thread-local compare when it already is) */
void cil_fpenv_sync(void) {
  int want = atomic_load_explicit(&g_flush, memory_order_relaxed);
  if (want == t_applied) return;
  cil_fpenv_apply(want);
  t_applied = want;
}

void cil_set_flush_subnormals(int on) {
  atomic_store(&g_flush, on ? 1 : 0);
  cil_fpenv_sync();
}

int cil_get_flush_subnormals(void) { return atomic_load(&g_flush); }
