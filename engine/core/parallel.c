/* A tiny fork-join pool for our kernels. A job is ntasks tasks; every thread, the caller included,
 * claims tasks one at a time until none is left, and the caller returns when all are finished. A task
 * always computes the same part of the result, whichever thread runs it, so the bits do not depend on
 * scheduling -- and a worker that has lost its core to another process (and so has not claimed
 * anything yet) does not hold the job up: the others take its tasks.
 * Workers spin briefly between jobs (an update issues dozens of GEMMs back to back), then sleep. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include "internal.h"

#define CIL_MAX_THREADS 64
typedef void (*task_fn)(int task, int ntasks, void *ctx);

static struct {
  int n;                      /* threads including the caller */
  pthread_t th[CIL_MAX_THREADS];
  _Atomic unsigned long gen;  /* job generation: wakes the workers */
  _Atomic uint64_t claim;     /* (generation & 0xffffffff) << 32 | next unclaimed task */
  _Atomic int done;           /* tasks of the current job finished */
  _Atomic(task_fn) fn;        /* atomics: a worker late from the last job may read them while the */
  _Atomic(void *) ctx;        /* caller sets up the next one; its claim then fails and it rereads */
  _Atomic int ntasks;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  _Atomic int stop;
  unsigned long start_gen; /* the generation new workers start from (set before they exist) */
} P = {1, {0}, 0, 0, 0, NULL, NULL, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

/* claim and run tasks of the current job until none is left */
static void run_tasks(void) {
  for (;;) {
    uint64_t c = atomic_load_explicit(&P.claim, memory_order_acquire);
    task_fn fn = atomic_load_explicit(&P.fn, memory_order_relaxed);
    void *ctx = atomic_load_explicit(&P.ctx, memory_order_relaxed);
    int nt = atomic_load_explicit(&P.ntasks, memory_order_relaxed);
    int k = (int)(uint32_t)c;
    if (k >= nt) return;
    /* success means the job of c was still the current one, so fn/ctx/nt were its own: a new job is
     * set up only after every task of this one, task k included, has finished */
    if (!atomic_compare_exchange_weak_explicit(&P.claim, &c, c + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue;
    fn(k, nt, ctx);
    atomic_fetch_add_explicit(&P.done, 1, memory_order_release);
  }
}

static void *worker(void *arg) {
  (void)arg;
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
    cil_fpenv_sync();
    run_tasks();
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

/* Start a worker thread with every signal blocked, so that SIGINT, SIGTERM and SIGUSR1 always reach
 * the main (Lua) thread: a signal handled on a worker would race the script that polls for it. */
int cil_thread_spawn(pthread_t *th, void *(*fn)(void *), void *arg) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(th, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

void cil_pool_resize(int n) {
  if (n < 1) n = 1;
  if (n > CIL_MAX_THREADS) n = CIL_MAX_THREADS;
  if (n == P.n) return;
  pool_stop();
  P.start_gen = atomic_load(&P.gen);
  for (int i = 1; i < n; i++)
    if (cil_thread_spawn(&P.th[i], worker, (void *)(intptr_t)i) != 0) {
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
  unsigned long g = atomic_load(&P.gen) + 1;
  atomic_store_explicit(&P.fn, fn, memory_order_relaxed);
  atomic_store_explicit(&P.ctx, ctx, memory_order_relaxed);
  atomic_store_explicit(&P.ntasks, ntasks, memory_order_relaxed);
  atomic_store_explicit(&P.done, 0, memory_order_relaxed);
  atomic_store_explicit(&P.claim, (uint64_t)(uint32_t)g << 32, memory_order_release);
  pthread_mutex_lock(&P.mu);
  atomic_store_explicit(&P.gen, g, memory_order_release);
  pthread_cond_broadcast(&P.cv);
  pthread_mutex_unlock(&P.mu);
  run_tasks();
  int spins = 0;
  while (atomic_load_explicit(&P.done, memory_order_acquire) < ntasks) {
    if (++spins < 2000) __builtin_ia32_pause();
    else sched_yield(); /* a worker busy with a task lost its core: it must get it back */
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

/* ---- the engine's thread count (our pool; OpenBLAS stays single-threaded) ---- */
extern void openblas_set_num_threads(int);
static int g_threads = 1;
void cil_set_num_threads(int n) {
  if (n < 1) n = 1;
  g_threads = n;
  openblas_set_num_threads(1); /* parallelism comes from our pool (cil_sgemm) */
  cil_pool_resize(n);
}
int cil_get_num_threads(void) { return g_threads; }
