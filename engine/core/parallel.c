/* A tiny fork-join pool for our kernels: the caller runs task 0, workers run tasks 1..n-1.
 * Workers spin briefly between jobs (an update issues dozens of GEMMs back to back), then sleep. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "internal.h"

#define CIL_MAX_THREADS 64
typedef void (*task_fn)(int task, int ntasks, void *ctx);

static struct {
  int n;                      /* threads including the caller */
  pthread_t th[CIL_MAX_THREADS];
  _Atomic unsigned long gen;  /* job generation */
  _Atomic int pending;        /* workers still running the current job */
  task_fn fn;
  void *ctx;
  int ntasks;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;
  unsigned long start_gen; /* the generation new workers start from (set before they exist) */
} P = {1, {0}, 0, 0, NULL, NULL, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  /* not atomic_load(&P.gen): a job posted before this thread got scheduled would count as seen */
  unsigned long seen = P.start_gen;
  for (;;) {
    int spins = 0;
    while (atomic_load_explicit(&P.gen, memory_order_acquire) == seen) {
      if (++spins < 20000) { /* ~0.1 ms: the next GEMM of an update is usually this close */
        __builtin_ia32_pause();
        continue;
      }
      pthread_mutex_lock(&P.mu);
      while (atomic_load(&P.gen) == seen && !P.stop) pthread_cond_wait(&P.cv, &P.mu);
      pthread_mutex_unlock(&P.mu);
      spins = 0;
    }
    if (P.stop) return NULL;
    seen = atomic_load(&P.gen);
    if (id < P.ntasks) P.fn(id, P.ntasks, P.ctx);
    atomic_fetch_sub_explicit(&P.pending, 1, memory_order_release);
  }
}

static void pool_stop(void) {
  if (P.n <= 1) return;
  pthread_mutex_lock(&P.mu);
  P.stop = 1;
  atomic_fetch_add(&P.gen, 1);
  pthread_cond_broadcast(&P.cv);
  pthread_mutex_unlock(&P.mu);
  for (int i = 1; i < P.n; i++) pthread_join(P.th[i], NULL);
  P.stop = 0;
  P.n = 1;
}

int cil_pool_size(void) { return P.n; }

void cil_pool_resize(int n) {
  if (n < 1) n = 1;
  if (n > CIL_MAX_THREADS) n = CIL_MAX_THREADS;
  if (n == P.n) return;
  pool_stop();
  P.start_gen = atomic_load(&P.gen);
  for (int i = 1; i < n; i++)
    if (pthread_create(&P.th[i], NULL, worker, (void *)(intptr_t)i) != 0) {
      n = i; /* run with what we got */
      break;
    }
  P.n = n;
}

/* run fn(task, ntasks, ctx) for task in [0, ntasks) with ntasks <= pool size */
void cil_pool_run(int ntasks, task_fn fn, void *ctx) {
  if (ntasks > P.n) ntasks = P.n;
  if (ntasks <= 1) {
    fn(0, 1, ctx);
    return;
  }
  P.fn = fn;
  P.ctx = ctx;
  P.ntasks = ntasks;
  atomic_store(&P.pending, P.n - 1);
  pthread_mutex_lock(&P.mu);
  atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
  pthread_cond_broadcast(&P.cv);
  pthread_mutex_unlock(&P.mu);
  fn(0, ntasks, ctx);
  int spins = 0;
  while (atomic_load_explicit(&P.pending, memory_order_acquire) > 0) {
    if (++spins < 2000) __builtin_ia32_pause();
    else sched_yield(); /* a worker that lost its core must get it back */
  }
}

/* ---- parallel_for: [0, n) in contiguous chunks, one per thread, when n is large enough ---- */
typedef struct {
  int64_t n;
  void (*fn)(int64_t lo, int64_t hi, void *ctx);
  void *ctx;
} range_job;
static void range_task(int task, int ntasks, void *p) {
  range_job *j = p;
  int64_t per = (j->n + ntasks - 1) / ntasks;
  per = (per + 15) & ~(int64_t)15; /* keep chunks 64-byte aligned for float arrays */
  int64_t lo = task * per, hi = lo + per < j->n ? lo + per : j->n;
  if (lo < hi) j->fn(lo, hi, j->ctx);
}
void cil_parallel_for(int64_t n, int64_t min_per_thread, void (*fn)(int64_t lo, int64_t hi, void *ctx),
                      void *ctx) {
  int t = P.n;
  if (t > 1 && n >= 2 * min_per_thread) {
    range_job j = {n, fn, ctx};
    cil_pool_run(t, range_task, &j);
  } else if (n > 0) {
    fn(0, n, ctx);
  }
}
