/* Environment throughput: our vectorized env vs a bare mj_step loop on the same model and the
 * same states/actions, and scaling from 1 to 2 threads.
 *
 *   bench/bench_env.sh [build-dir]      (compiles this file against <build-dir>/libcilengine.a)
 *
 * "env step" = frame_skip mj_step calls (4 for hopper/walker2d, 5 for halfcheetah). The bare loop
 * does only ctrl <- action and the mj_step calls, over the same N mjData that the env would step,
 * started from the same reset states, with the same actions (no autoreset in either, so both
 * simulate exactly the same physics). Overhead = our time / bare time - 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sim/env.h"

static double cpu(void) { /* CPU seconds of the whole process (all threads) */
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

enum { STEPS = 200 }; /* env steps per measured block (actions pre-drawn) */

static cil_vecenv *make(const char *name, int n, int threads) {
  cil_envopts o = cil_envopts_default();
  o.num_envs = n;
  o.seed = 1;
  o.threads = threads;
  o.max_episode_steps = 0; /* no time limit: nothing but stepping */
  cil_vecenv *e = cil_vecenv_make(name, &o);
  if (!e) {
    fprintf(stderr, "bench: %s\n", cil_errmsg());
    exit(1);
  }
  return e;
}

/* One configuration: the bare loop, the env with 1 thread and with 2 threads step the same N
 * states with the same actions, block by block in turn (so machine noise hits all three alike);
 * block 0 is a warm-up. Returns the best seconds per single-env step of each. */
static void measure(const char *name, int n, int reps, double best[3], double cpu12[2]) {
  cil_vecenv *e1 = make(name, n, 1), *e2 = make(name, n, 2);
  const mjModel *m = e1->model;
  int fs = e1->task->frame_skip, nu = m->nu;
  mjData **d = malloc(sizeof *d * n);
  for (int i = 0; i < n; i++) d[i] = mj_copyData(NULL, m, e1->data[i]);
  size_t na = (size_t)STEPS * n * nu;
  double *acts = malloc(sizeof(double) * na);
  cil_rng r;
  cil_rng_seed(&r, 3);
  best[0] = best[1] = best[2] = 1e30;
  cpu12[0] = cpu12[1] = 0;
  for (int rep = 0; rep <= reps; rep++) {
    for (size_t q = 0; q < na; q++) acts[q] = 2 * cil_rng_uniform(&r) - 1;
    double t0 = now();
    for (int s = 0; s < STEPS; s++)
      for (int i = 0; i < n; i++) {
        const double *a = acts + ((size_t)s * n + i) * nu;
        for (int j = 0; j < nu; j++) d[i]->ctrl[j] = a[j];
        for (int k = 0; k < fs; k++) mj_step(m, d[i]);
      }
    double t1 = now(), c1 = cpu();
    for (int s = 0; s < STEPS; s++) cil_vecenv_step(e1, acts + (size_t)s * n * nu);
    double t2 = now(), c2 = cpu();
    for (int s = 0; s < STEPS; s++) cil_vecenv_step(e2, acts + (size_t)s * n * nu);
    double t3 = now(), c3 = cpu(), per = 1.0 / ((double)STEPS * n);
    if (rep == 0) continue;
    cpu12[0] += c2 - c1;
    cpu12[1] += c3 - c2;
    if ((t1 - t0) * per < best[0]) best[0] = (t1 - t0) * per;
    if ((t2 - t1) * per < best[1]) best[1] = (t2 - t1) * per;
    if ((t3 - t2) * per < best[2]) best[2] = (t3 - t2) * per;
  }
  /* sanity: all three simulated the same physics */
  for (int i = 0; i < n; i++)
    if (memcmp(d[i]->qpos, e1->data[i]->qpos, sizeof(double) * m->nq) ||
        memcmp(d[i]->qpos, e2->data[i]->qpos, sizeof(double) * m->nq))
      fprintf(stderr, "bench: warning: %s env %d diverged from the bare loop\n", name, i);
  for (int i = 0; i < n; i++) mj_deleteData(d[i]);
  free(d);
  free(acts);
  cil_vecenv_free(e1);
  cil_vecenv_free(e2);
}

int main(int argc, char **argv) {
  const char *names[] = {"hopper", "walker2d", "halfcheetah"};
  int reps = argc > 1 ? atoi(argv[1]) : 10;
  int ns[] = {1, 8, 32};
  printf("env steps/s (1 env step = frame_skip mj_step), best of %d blocks of %d steps\n", reps, STEPS);
  printf("overhead = cil 1 thr time / bare time - 1; 2thr/1thr = wall-clock speedup (needs 2 idle\n"
         "cores); cpu2/cpu1 = process CPU time of the 2-thread run / 1-thread run (parallel overhead)\n");
  printf("%-12s %4s %12s %12s %9s %12s %9s %8s\n", "task", "N", "bare mj_step", "cil 1 thr",
         "overhead", "cil 2 thr", "2thr/1thr", "cpu2/cpu1");
  for (int k = 0; k < 3; k++)
    for (int c = 0; c < 3; c++) {
      int n = ns[c];
      double b[3], c[2];
      measure(names[k], n, reps, b, c);
      printf("%-12s %4d %12.0f %12.0f %+8.1f%% %12.0f %8.2fx %8.2f\n", names[k], n, 1 / b[0],
             1 / b[1], 100 * (b[1] / b[0] - 1), 1 / b[2], b[1] / b[2], c[1] / c[0]);
    }
  return 0;
}
