/* Deploying a policy through the C API (cleanil/policy.h): single-observation latency (deterministic
 * and sampled) and batch throughput, one thread. The Lua side is bench/deploy.lua, PyTorch's
 * bench/torch_deploy.py; bench/run.sh prints the three side by side.
 *   deploy_bench [POLICY] [SECONDS] [BATCH]    (default data/hopper/expert_policy.h5, 3 s, 256 rows)
 * One JSON line per measurement: per_s = calls (single) or rows (batch) per second, the median of 5
 * timed blocks after a warm-up; per_cpu_s the same per CPU-second of the process; us_per_call =
 * 1e6 / calls per second (wall clock). */
#include <cleanil/policy.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#define NOBS 1024
static cil_policy *P;
static float *OBS, *ACT;
static int O, A;
static cil_policy_rng RNG;

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
/* calls per second of fn over blocks of secs/5: the median, min and max of 5 wall-clock rates, and the
 * median rate per CPU-second (steadier on a loaded machine) */
static void measure(int (*fn)(int i, int n), int n, double secs, double out[4]) {
  for (int i = 0; i < 200; i++) fn(i, n);
  double r[5], c[5];
  for (int k = 0; k < 5; k++) {
    long calls = 0;
    double t0 = now(), c0 = cpu_now(), t;
    do {
      for (int j = 0; j < 16; j++) fn((int)(calls + j), n);
      calls += 16;
    } while ((t = now()) - t0 < secs / 5);
    r[k] = calls / (t - t0);
    c[k] = calls / (cpu_now() - c0);
  }
  qsort(r, 5, sizeof r[0], cmp);
  qsort(c, 5, sizeof c[0], cmp);
  out[0] = r[2], out[1] = r[0], out[2] = r[4], out[3] = c[2];
}
static int act_det(int i, int n) {
  const float *o = OBS + (size_t)(n == 1 ? i % NOBS : 0) * O;
  return cil_policy_act(P, o, n, O, ACT, A);
}
static int act_sample(int i, int n) {
  const float *o = OBS + (size_t)(n == 1 ? i % NOBS : 0) * O;
  return cil_policy_sample(P, o, n, O, &RNG, ACT, A);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "data/hopper/expert_policy.h5";
  double secs = argc > 2 ? atof(argv[2]) : 3.0;
  int batch = argc > 3 ? atoi(argv[3]) : 256;
  if (batch < 1 || batch > NOBS) batch = 256;
  cil_policy_opts opts = cil_policy_opts_default();
  opts.max_batch = NOBS;
  int rc = cil_policy_load(path, &opts, &P);
  if (rc) {
    fprintf(stderr, "deploy_bench: %s\n", cil_policy_errmsg());
    return 1;
  }
  O = cil_policy_obs_dim(P), A = cil_policy_act_dim(P);
  OBS = malloc(sizeof(float) * NOBS * O);
  ACT = malloc(sizeof(float) * NOBS * A);
  srand(1);
  for (int i = 0; i < NOBS * O; i++) OBS[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
  cil_policy_rng_seed(&RNG, 1);
  double m[4];
  measure(act_det, 1, secs, m);
  printf("{\"bench\": \"deploy_single\", \"impl\": \"c_api\", \"mode\": \"deterministic\", \"per_s\": %.1f, \"min\": %.1f, "
         "\"max\": %.1f, \"per_cpu_s\": %.1f, \"us_per_call\": %.3f}\n", m[0], m[1], m[2], m[3], 1e6 / m[0]);
  measure(act_sample, 1, secs, m);
  printf("{\"bench\": \"deploy_single\", \"impl\": \"c_api\", \"mode\": \"sampled\", \"per_s\": %.1f, \"min\": %.1f, "
         "\"max\": %.1f, \"per_cpu_s\": %.1f, \"us_per_call\": %.3f}\n", m[0], m[1], m[2], m[3], 1e6 / m[0]);
  measure(act_det, batch, secs, m);
  printf("{\"bench\": \"deploy_batch\", \"impl\": \"c_api\", \"mode\": \"deterministic\", \"batch\": %d, \"per_s\": %.1f, "
         "\"min\": %.1f, \"max\": %.1f, \"per_cpu_s\": %.1f, \"us_per_call\": %.3f}\n", batch, m[0] * batch, m[1] * batch, m[2] * batch,
         m[3] * batch, 1e6 / m[0]);
  cil_policy_free(P);
  free(OBS);
  free(ACT);
  return 0;
}
