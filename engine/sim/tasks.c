/* The three Gymnasium v4 tasks: observation, reward, health, reset noise, model-rollout rule.
 * Every rule follows environments.md sections 2-4 and 9: strict comparisons (NaN is unhealthy),
 * health checked on the state after the step, healthy reward paid on the terminating step too,
 * velocities clipped to [-10, 10] in the Hopper/Walker2d observation only. */
#define _GNU_SOURCE /* dladdr */
/* no fused multiply-add: rewards are computed like numpy does, one rounding per operation */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <ctype.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "../core/tensor.h"
#include "env.h"

#ifndef CIL_MODEL_DIR
#define CIL_MODEL_DIR "models"
#endif

/* ---------------------------------------------------------------- shared pieces */

/* np.clip(v, -10, 10): NaN passes through unchanged */
static double clip10(double v) { return v < -10.0 ? -10.0 : (v > 10.0 ? 10.0 : v); }

/* lo < v < hi, false for NaN */
static int open_in(double v, double lo, double hi) { return lo < v && v < hi; }

/* obs = concat(qpos[1:], qvel), velocities clipped or not */
static void observe_generic(const mjModel *m, const mjData *d, double *obs, int clip) {
  int k = 0;
  for (int i = 1; i < m->nq; i++) obs[k++] = d->qpos[i];
  for (int i = 0; i < m->nv; i++) obs[k++] = clip ? clip10(d->qvel[i]) : d->qvel[i];
}
static void observe_clipped(const cil_task *t, const mjModel *m, const mjData *d, double *obs) {
  observe_generic(m, d, obs, 1);
}
static void observe_raw(const cil_task *t, const mjModel *m, const mjData *d, double *obs) {
  observe_generic(m, d, obs, 0);
}

/* ctrl_cost = w * sum(a^2) on the action as given (before MuJoCo's clamp) */
static double ctrl_cost(const cil_task *t, const double *act) {
  double s = 0;
  for (int j = 0; j < t->act_dim; j++) s += act[j] * act[j];
  return t->ctrl_cost_weight * s;
}

/* Hopper/Walker2d: reward = (w_fwd * vx + healthy_reward) - ctrl_cost.
 * info: x_position, x_velocity, reward_forward, reward_ctrl (= -ctrl_cost), reward_survive */
static double reward_alive(const cil_task *t, const mjModel *m, const mjData *d, double x_before,
                           const double *act, double *info) {
  double dt = m->opt.timestep * t->frame_skip;
  double x_after = d->qpos[0];
  double x_vel = (x_after - x_before) / dt;
  double cost = ctrl_cost(t, act);
  double fwd = t->forward_reward_weight * x_vel;
  double healthy = t->healthy_reward; /* terminate_when_unhealthy=True: paid on every step */
  info[0] = x_after;
  info[1] = x_vel;
  info[2] = fwd;
  info[3] = -cost;
  info[4] = healthy;
  return (fwd + healthy) - cost;
}

/* HalfCheetah: reward = w_fwd * vx - ctrl_cost. info: x_position, x_velocity, reward_run, reward_ctrl */
static double reward_cheetah(const cil_task *t, const mjModel *m, const mjData *d, double x_before,
                             const double *act, double *info) {
  double dt = m->opt.timestep * t->frame_skip;
  double x_after = d->qpos[0];
  double x_vel = (x_after - x_before) / dt;
  double cost = ctrl_cost(t, act);
  double fwd = t->forward_reward_weight * x_vel;
  info[0] = x_after;
  info[1] = x_vel;
  info[2] = fwd;
  info[3] = -cost;
  return fwd - cost;
}

/* uniform U(lo, hi) as numpy draws it: lo + (hi - lo) * u, u in [0, 1) */
static double uniform(cil_rng *r, double lo, double hi) { return lo + (hi - lo) * cil_rng_uniform(r); }

/* Hopper/Walker2d: qpos += U(-s, s), qvel += U(-s, s), every entry */
static void noise_uniform(const cil_task *t, const mjModel *m, mjData *d, cil_rng *rng) {
  double s = t->reset_noise_scale;
  for (int i = 0; i < m->nq; i++) d->qpos[i] += uniform(rng, -s, s);
  for (int i = 0; i < m->nv; i++) d->qvel[i] += uniform(rng, -s, s);
}
/* HalfCheetah: qpos += U(-s, s), qvel += s * N(0, 1) */
static void noise_cheetah(const cil_task *t, const mjModel *m, mjData *d, cil_rng *rng) {
  double s = t->reset_noise_scale;
  for (int i = 0; i < m->nq; i++) d->qpos[i] += uniform(rng, -s, s);
  for (int i = 0; i < m->nv; i++) d->qvel[i] += s * cil_rng_normal(rng);
}

/* ---------------------------------------------------------------- health rules (true env) */

/* Hopper: every entry of concat(qpos, qvel)[2:] (raw qvel) in (-100, 100), 0.7 < z < inf,
 * -0.2 < angle < 0.2 */
static int hopper_terminated(const cil_task *t, const mjData *d) {
  for (int i = 2; i < t->nq; i++)
    if (!open_in(d->qpos[i], -100.0, 100.0)) return 1;
  for (int i = 0; i < t->nv; i++)
    if (!open_in(d->qvel[i], -100.0, 100.0)) return 1;
  if (!open_in(d->qpos[1], 0.7, INFINITY)) return 1;
  if (!open_in(d->qpos[2], -0.2, 0.2)) return 1;
  return 0;
}
/* Walker2d: 0.8 < z < 2.0 and -1 < angle < 1 */
static int walker_terminated(const cil_task *t, const mjData *d) {
  return !(open_in(d->qpos[1], 0.8, 2.0) && open_in(d->qpos[2], -1.0, 1.0));
}
static int never_terminated(const cil_task *t, const mjData *d) { return 0; }

/* ---------------------------------------------------------------- model-rollout rules (obs) */

/* shared guards: every |o_j| < 100 and every |x_j| < 30 (x = the input, possibly normalized) */
static int guards(const double *o, const float *x, int n) {
  for (int j = 0; j < n; j++)
    if (!(fabs(o[j]) < 100.0) || !(fabsf(x[j]) < 30.0f)) return 0;
  return 1;
}
static int cheetah_alive(const double *o, const float *x, int n) { return guards(o, x, n); }
static int hopper_alive(const double *o, const float *x, int n) {
  return guards(o, x, n) && o[0] > 0.7 && fabs(o[1]) < 0.2;
}
static int walker_alive(const double *o, const float *x, int n) {
  return guards(o, x, n) && open_in(o[0], 0.8, 2.0) && open_in(o[1], -1.0, 1.0);
}

/* ---------------------------------------------------------------- the vtables */

const cil_task cil_task_hopper = {
    .name = "hopper", .gym_id = "Hopper-v4", .xml = "hopper.xml",
    .nq = 6, .nv = 6, .nu = 3, .obs_dim = 11, .act_dim = 3, .frame_skip = 4,
    .forward_reward_weight = 1.0, .ctrl_cost_weight = 1e-3, .healthy_reward = 1.0,
    .reset_noise_scale = 5e-3, .ref_min_score = -20.272305, .ref_max_score = 3234.3,
    .n_info = 5,
    .info_names = {"x_position", "x_velocity", "reward_forward", "reward_ctrl", "reward_survive"},
    .reset_noise = noise_uniform, .observe = observe_clipped, .reward = reward_alive,
    .terminated = hopper_terminated, .alive_obs = hopper_alive};

const cil_task cil_task_walker2d = {
    .name = "walker2d", .gym_id = "Walker2d-v4", .xml = "walker2d.xml",
    .nq = 9, .nv = 9, .nu = 6, .obs_dim = 17, .act_dim = 6, .frame_skip = 4,
    .forward_reward_weight = 1.0, .ctrl_cost_weight = 1e-3, .healthy_reward = 1.0,
    .reset_noise_scale = 5e-3, .ref_min_score = 1.629008, .ref_max_score = 4592.3,
    .n_info = 5,
    .info_names = {"x_position", "x_velocity", "reward_forward", "reward_ctrl", "reward_survive"},
    .reset_noise = noise_uniform, .observe = observe_clipped, .reward = reward_alive,
    .terminated = walker_terminated, .alive_obs = walker_alive};

const cil_task cil_task_halfcheetah = {
    .name = "halfcheetah", .gym_id = "HalfCheetah-v4", .xml = "halfcheetah.xml",
    .nq = 9, .nv = 9, .nu = 6, .obs_dim = 17, .act_dim = 6, .frame_skip = 5,
    .forward_reward_weight = 1.0, .ctrl_cost_weight = 0.1, .healthy_reward = 0.0,
    .reset_noise_scale = 0.1, .ref_min_score = -280.178953, .ref_max_score = 12135.0,
    .n_info = 4, .info_names = {"x_position", "x_velocity", "reward_run", "reward_ctrl"},
    .reset_noise = noise_cheetah, .observe = observe_raw, .reward = reward_cheetah,
    .terminated = never_terminated, .alive_obs = cheetah_alive};

static const cil_task *const all_tasks[] = {&cil_task_hopper, &cil_task_walker2d,
                                            &cil_task_halfcheetah};
#define NTASKS ((int)(sizeof all_tasks / sizeof all_tasks[0]))

/* lower-case copy without a trailing "-vN" */
static void canon(const char *name, char *out, size_t cap) {
  size_t n = 0;
  for (; name[n] && n + 1 < cap; n++) out[n] = (char)tolower((unsigned char)name[n]);
  out[n] = 0;
  char *v = strrchr(out, '-');
  if (v && v[1] == 'v' && v[2]) {
    char *p = v + 2;
    while (*p && isdigit((unsigned char)*p)) p++;
    if (!*p) *v = 0;
  }
}

const cil_task *cil_task_find(const char *name) {
  char c[64];
  if (!name) {
    cil_seterr("env: no task name given");
    return NULL;
  }
  canon(name, c, sizeof c);
  for (int i = 0; i < NTASKS; i++)
    if (strcmp(c, all_tasks[i]->name) == 0) return all_tasks[i];
  cil_seterr("env: unknown task '%s' (known: hopper, walker2d, halfcheetah, or Hopper-v4, "
             "Walker2d-v4, HalfCheetah-v4)", name);
  return NULL;
}

const cil_task *cil_task_match(const char *name) {
  char c[128];
  if (!name) {
    cil_seterr("termination: no task name given");
    return NULL;
  }
  canon(name, c, sizeof c);
  if (strstr(c, "hopper")) return &cil_task_hopper;
  if (strstr(c, "cheetah")) return &cil_task_halfcheetah;
  if (strstr(c, "walker")) return &cil_task_walker2d;
  cil_seterr("termination: no termination rule for '%s' (name must contain hopper, halfcheetah or "
             "walker)", name);
  return NULL;
}

/* An installed cleanil (PREFIX/bin/cleanil, PREFIX/lib/libcleanil.so) keeps its models in
 * PREFIX/share/cleanil/models: found from the path of the module this code runs in (dladdr), or of the
 * executable (/proc/self/exe, for the static library in a program); "" when neither has them. */
static char g_installed_models[4096];
static pthread_once_t g_models_once = PTHREAD_ONCE_INIT;
static int models_beside(const char *module) { /* module = PREFIX/<bin|lib>/<file> */
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", module);
  for (int up = 0; up < 2; up++) {
    char *slash = strrchr(buf, '/');
    if (!slash) return 0;
    *slash = 0;
  }
  struct stat st;
  char dir[4096 + 32];
  snprintf(dir, sizeof dir, "%s/share/cleanil/models", buf[0] ? buf : "");
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || strlen(dir) >= sizeof g_installed_models) return 0;
  strcpy(g_installed_models, dir);
  return 1;
}
static void find_installed_models(void) {
  Dl_info info;
  char real[4096];
  if (dladdr((void *)cil_model_dir, &info) && info.dli_fname && strchr(info.dli_fname, '/') &&
      realpath(info.dli_fname, real) && models_beside(real))
    return;
  ssize_t n = readlink("/proc/self/exe", real, sizeof real - 1);
  if (n > 0) {
    real[n] = 0;
    models_beside(real);
  }
}

/* model directory: $CLEANIL_MODEL_DIR, else an installed cleanil's share/cleanil/models, else the
 * build's CIL_MODEL_DIR (the source tree) */
const char *cil_model_dir(void) {
  const char *d = getenv("CLEANIL_MODEL_DIR");
  if (d && *d) return d;
  pthread_once(&g_models_once, find_installed_models);
  return g_installed_models[0] ? g_installed_models : CIL_MODEL_DIR;
}

mjModel *cil_task_load_model(const cil_task *t, const char *dir) {
  char path[4096], err[1024] = "";
  if (!dir) dir = cil_model_dir();
  size_t n = strlen(dir);
  const char *sep = (n && dir[n - 1] == '/') ? "" : "/";
  if (n + strlen(t->xml) + 2 > sizeof path) {
    cil_seterr("env %s: model directory path too long", t->name);
    return NULL;
  }
  strcpy(path, dir);
  strcat(path, sep);
  strcat(path, t->xml);
  mjModel *m = mj_loadXML(path, NULL, err, sizeof err);
  if (!m) {
    cil_seterr("env %s: cannot load model %s: %s (set CLEANIL_MODEL_DIR to the models/ folder)",
               t->name, path, err);
    return NULL;
  }
  if (m->nq != t->nq || m->nv != t->nv || m->nu != t->nu) {
    cil_seterr("env %s: model %s has nq %d nv %d nu %d, expected %d %d %d", t->name, path, m->nq,
               m->nv, m->nu, t->nq, t->nv, t->nu);
    mj_deleteModel(m);
    return NULL;
  }
  return m;
}

/* ---------------------------------------------------------------- batched termination */

int cil_termination(const cil_task *t, const float *obs, int64_t n, int obs_dim, const float *mean,
                    const float *std, int sqrt_std_quirk, float *done) {
  if (obs_dim != t->obs_dim) {
    cil_seterr("termination %s: observations have %d columns, expected %d", t->name, obs_dim,
               t->obs_dim);
    return -1;
  }
  /* walker2d upstream passes std where a variance is expected: o = x * sqrt(std) + mean */
  int quirk = sqrt_std_quirk && t == &cil_task_walker2d;
  double scale[64], shift[64];
  for (int j = 0; j < obs_dim; j++) {
    double s = std ? (double)std[j] : 1.0;
    scale[j] = quirk ? sqrt(s) : s;
    shift[j] = mean ? (double)mean[j] : 0.0;
  }
  double o[64];
  for (int64_t r = 0; r < n; r++) {
    const float *x = obs + r * obs_dim;
    for (int j = 0; j < obs_dim; j++) o[j] = (double)x[j] * scale[j] + shift[j];
    done[r] = t->alive_obs(o, x, obs_dim) ? 0.0f : 1.0f;
  }
  return 0;
}

double cil_normalized_score(const cil_task *t, double R) {
  return 100.0 * (R - t->ref_min_score) / (t->ref_max_score - t->ref_min_score);
}
