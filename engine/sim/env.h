/* cleanil simulation: MuJoCo tasks with Gymnasium v4 semantics, vectorized over N mjData.
 *
 * Tasks       Hopper-v4, Walker2d-v4, HalfCheetah-v4. Each task is a small constant vtable
 *             (cil_task): sizes, default weights, and five functions (reset noise, observe, reward,
 *             terminated, and the batched alive rule used by model rollouts).
 * Vector env  one mjModel (constant while stepping) shared by N mjData (mutable), exactly MuJoCo's
 *             model/data split. Flat arrays of N rows hold the last observations, rewards, flags and
 *             info values. One call steps all N envs, optionally split across a pool of pthreads.
 *             Each env owns a seeded cil_rng, so results do not depend on the number of threads.
 * Precision   MuJoCo state, observations, rewards and health checks are double (Gymnasium uses
 *             float64); the bindings convert to float32 tensors at the edge.
 * Errors      nothing aborts: a failing call sets cil_seterr() and returns a negative code / NULL.
 *             MuJoCo errors raised while stepping are caught and reported the same way.
 */
#ifndef CIL_SIM_ENV_H
#define CIL_SIM_ENV_H
#include <stdint.h>
#include <mujoco/mujoco.h>
#include "../core/rng.h"

#define CIL_MAX_INFO 8  /* most info values a task reports per step */

typedef struct cil_task cil_task;

/* ---- task vtable (one constant instance per task) ---- */
struct cil_task {
  const char *name;             /* short name: "hopper", "walker2d", "halfcheetah" */
  const char *gym_id;           /* Gymnasium id: "Hopper-v4", ... */
  const char *xml;              /* model file name inside the model directory */
  int nq, nv, nu;               /* sizes the model must have (checked when it is loaded) */
  int obs_dim;                  /* observation size: concat(qpos[1:], qvel) */
  int act_dim;                  /* action size = nu */
  int frame_skip;               /* mj_step calls per env step */
  double forward_reward_weight; /* weight of x velocity in the reward (1.0) */
  double ctrl_cost_weight;      /* weight of sum(action^2) (1e-3 hopper/walker, 0.1 cheetah) */
  double healthy_reward;        /* paid every step, terminating step included (0 for cheetah) */
  double reset_noise_scale;     /* half-width of uniform qpos noise (and qvel noise, see reset) */
  double ref_min_score;         /* D4RL REF_MIN_SCORE (random policy return) */
  double ref_max_score;         /* D4RL REF_MAX_SCORE (expert policy return) */
  int n_info;                   /* number of info values per step */
  const char *info_names[CIL_MAX_INFO]; /* their names, e.g. "x_position" */
  /* add reset noise to d->qpos/qvel (d was just mj_resetData'd; caller runs mj_forward) */
  void (*reset_noise)(const cil_task *t, const mjModel *m, mjData *d, cil_rng *rng);
  /* write obs_dim observation values from the current state */
  void (*observe)(const cil_task *t, const mjModel *m, const mjData *d, double *obs);
  /* reward of the step that moved rootx from x_before to d->qpos[0] under action act;
   * writes n_info values to info */
  double (*reward)(const cil_task *t, const mjModel *m, const mjData *d, double x_before,
                   const double *act, double *info);
  /* 1 when the state after the step ends the episode (not healthy) */
  int (*terminated)(const cil_task *t, const mjData *d);
  /* model-rollout rule on one de-normalized observation o (and the raw input x): 1 if alive */
  int (*alive_obs)(const double *o, const float *x, int obs_dim);
};

extern const cil_task cil_task_hopper;
extern const cil_task cil_task_walker2d;
extern const cil_task cil_task_halfcheetah;

/* task by name: "hopper", "Hopper-v4", "walker2d", "Walker2d-v4", "halfcheetah", "HalfCheetah-v4"
 * (case-insensitive, any "-vN" suffix). NULL and an error message if unknown. */
const cil_task *cil_task_find(const char *name);
/* task chosen by substring as cleanil's termination functions do ("hopper", "cheetah", "walker",
 * case-insensitive). NULL and an error message if none matches. */
const cil_task *cil_task_match(const char *name);

/* model directory: $CLEANIL_MODEL_DIR if set; else, for an installed cleanil, PREFIX/share/cleanil/models
 * (found from the library's or the executable's own path); else the compile-time CIL_MODEL_DIR */
const char *cil_model_dir(void);
/* load and check the task's model from dir (NULL: cil_model_dir()); NULL + error on failure */
mjModel *cil_task_load_model(const cil_task *t, const char *dir);

/* ---- vectorized environment ---- */
typedef struct cil_envopts {
  int num_envs;           /* N >= 1 */
  uint64_t seed;          /* env i's noise stream is seeded with seed + i */
  int threads;            /* worker threads for step/reset (1 = the calling thread only) */
  int autoreset;          /* 1: envs that terminate or truncate are reset inside step */
  int max_episode_steps;  /* time limit (Gymnasium's TimeLimit); <= 0 disables it */
  const char *model_dir;  /* NULL: cil_model_dir() */
} cil_envopts;

cil_envopts cil_envopts_default(void); /* 1 env, seed 0, 1 thread, no autoreset, 1000 steps */

typedef struct cil_pool cil_pool;

typedef struct cil_vecenv {
  const cil_task *task;    /* task vtable */
  mjModel *model;          /* shared model, read-only while stepping */
  int num_envs;            /* N */
  int obs_dim;             /* observation size */
  int act_dim;             /* action size */
  int max_episode_steps;   /* time limit; <= 0 none */
  int autoreset;           /* reset ended envs inside step */
  int num_threads;         /* threads used by step/reset (<= N) */
  double dt;               /* timestep * frame_skip */
  mjData **data;           /* [N] simulation state per env */
  cil_rng *rng;            /* [N] reset-noise stream per env */
  int64_t *elapsed;        /* [N] steps taken in the current episode */
  double *act;             /* [N * act_dim] actions of the last step */
  double *obs;             /* [N * obs_dim] current observations (after autoreset: the new episode's) */
  double *final_obs;       /* [N * obs_dim] true post-step observations of the last step */
  double *rew;             /* [N] rewards of the last step */
  uint8_t *terminated;     /* [N] last step ended the episode by a task rule */
  uint8_t *truncated;      /* [N] last step hit the time limit */
  uint8_t *was_reset;      /* [N] autoreset: env was reset at the end of the last step */
  double *info;            /* [N * task->n_info] info values of the last step */
  int *status;             /* [N] per-env error flag of the last call (0 ok) */
  char errmsg[256];        /* first MuJoCo error of the last call */
  cil_pool *pool;          /* worker threads (NULL when num_threads == 1) */
} cil_vecenv;

/* make N envs of a task (name as for cil_task_find) and reset them with opts.seed; NULL + error */
cil_vecenv *cil_vecenv_make(const char *name, const cil_envopts *opts);
void cil_vecenv_free(cil_vecenv *e);
/* reset all envs; seed NULL: continue each env's stream, else env i is reseeded with *seed + i.
 * Fills obs; clears rew/flags/info. Returns 0 or -1. */
int cil_vecenv_reset(cil_vecenv *e, const uint64_t *seed);
/* reset env i (0-based); seed NULL: continue its stream, else reseed it with *seed. 0 or -1. */
int cil_vecenv_reset_one(cil_vecenv *e, int i, const uint64_t *seed);
/* step every env with act [N * act_dim] (passed to ctrl unclipped; MuJoCo clamps the force).
 * Fills obs, final_obs, rew, terminated, truncated, info (and resets ended envs in autoreset mode).
 * Returns 0, or -1 if MuJoCo failed in some env (that env is reset; message via cil_errmsg()). */
int cil_vecenv_step(cil_vecenv *e, const double *act);
/* copy env i's qpos [nq] / qvel [nv] out (either may be NULL). 0 or -1. */
int cil_vecenv_get_state(const cil_vecenv *e, int i, double *qpos, double *qvel);
/* set env i's qpos/qvel, run mj_forward, refresh obs row i (like Gymnasium's set_state). 0 or -1. */
int cil_vecenv_set_state(cil_vecenv *e, int i, const double *qpos, const double *qvel);

/* ---- model rollouts and scores ---- */
/* done[r] = 1 - alive(obs row r) for rows r < n of obs [n * obs_dim] (cleanil termination_fn).
 * o = x * std + mean (Walker2d with sqrt_std_quirk: x * sqrt(std) + mean); mean/std NULL mean 0/1.
 * Returns 0, or -1 if obs_dim does not match the task. */
int cil_termination(const cil_task *t, const float *obs, int64_t n, int obs_dim, const float *mean,
                    const float *std, int sqrt_std_quirk, float *done);
/* D4RL normalized score on the 0-100 scale: 100 * (R - REF_MIN) / (REF_MAX - REF_MIN) */
double cil_normalized_score(const cil_task *t, double episode_return);

#endif
