/* Deploy a trained policy from C: load it, drive cleanil's MuJoCo environment, print the return.
 *
 *   act POLICY [ENV] [SEED] [--sample]
 *     POLICY  a policy file (data/hopper/expert_policy.h5, runs/bc-hopper-seed0/policy.h5) or a run
 *             directory (its policy.h5)
 *     ENV     hopper (default), walker2d or halfcheetah: the task the policy was trained on
 *     SEED    the episode's reset seed (default 0); with --sample also the seed of the action noise
 *
 * One episode, as cil.run.evaluate runs it in Lua (env:reset(SEED), then actor:act_deterministic, or
 * actor(obs):sample(cil.rng(SEED)) with --sample), so it reaches the same return as the Lua evaluation.
 *
 * Build: by CMake (build/act), or against an installed cleanil:
 *   cc examples/c/act.c $(pkg-config --cflags --libs cleanil) -o act
 */
#include <cleanil/env.h>
#include <cleanil/policy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *path = NULL, *task = "hopper";
  unsigned long long seed = 0;
  int sample = 0, npos = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--sample")) sample = 1;
    else if (npos == 0) path = argv[i], npos++;
    else if (npos == 1) task = argv[i], npos++;
    else if (npos == 2) seed = strtoull(argv[i], NULL, 10), npos++;
  }
  if (!path) {
    fprintf(stderr, "usage: act POLICY [ENV] [SEED] [--sample]\n");
    return 2;
  }

  cil_policy *pol;
  int rc = cil_policy_load(path, NULL, &pol);
  if (rc != CIL_POLICY_OK) {
    fprintf(stderr, "act: %s (%s)\n", cil_policy_errmsg(), cil_policy_strerror(rc));
    return 1;
  }
  cil_envopts opts = cil_envopts_default(); /* one env, the 1000-step time limit */
  opts.seed = seed;
  cil_vecenv *env = cil_vecenv_make(task, &opts);
  if (!env) {
    fprintf(stderr, "act: %s\n", cil_errmsg());
    cil_policy_free(pol);
    return 1;
  }
  int O = env->obs_dim, A = env->act_dim;
  if (O != cil_policy_obs_dim(pol) || A != cil_policy_act_dim(pol)) {
    fprintf(stderr, "act: %s has observations of %d and actions of %d; the policy takes %d and gives %d\n", task, O,
            A, cil_policy_obs_dim(pol), cil_policy_act_dim(pol));
    return 1;
  }

  float *obs = malloc(sizeof(float) * O), *act = malloc(sizeof(float) * A);
  double *ctrl = malloc(sizeof(double) * A);
  cil_policy_rng rng;
  cil_policy_rng_seed(&rng, seed);
  uint64_t s = seed;
  cil_vecenv_reset(env, &s);
  double ret = 0;
  int steps = 0;
  for (;;) {
    for (int j = 0; j < O; j++) obs[j] = (float)env->obs[j]; /* the policy works in float32 */
    rc = sample ? cil_policy_sample(pol, obs, 1, O, &rng, act, A) : cil_policy_act(pol, obs, 1, O, act, A);
    if (rc != CIL_POLICY_OK) {
      fprintf(stderr, "act: %s\n", cil_policy_errmsg());
      return 1;
    }
    for (int j = 0; j < A; j++) ctrl[j] = act[j];
    if (cil_vecenv_step(env, ctrl) != 0) {
      fprintf(stderr, "act: %s\n", cil_errmsg());
      return 1;
    }
    ret += (float)env->rew[0]; /* summed as cil.run.evaluate sums its float32 rewards */
    steps++;
    if (env->terminated[0] || env->truncated[0]) break;
  }
  printf("%s: return %.4f over %d steps (%s, seed %llu)\n", task, ret, steps, sample ? "sampled" : "deterministic",
         seed);
  free(obs);
  free(act);
  free(ctrl);
  cil_vecenv_free(env);
  cil_policy_free(pol);
  return 0;
}
