/* Offline datasets in the D4RL layout: loading (D4RL files, Minari files), saving, trajectories,
 * row selection and observation statistics. All row loops are here; Lua only composes them.
 *
 * Flat layout (one row per transition, file order):
 *   observations [N, obs_dim]   actions [N, act_dim]   rewards [N]
 *   terminals [N] (0/1: true termination)   timeouts [N] (0/1: time limit or cut recording)
 *   next_observations [N, obs_dim] (the true successor of the row, also on terminal/timeout rows)
 * An episode ends at a row with terminals or timeouts; rows after the last flagged row form an
 * incomplete tail.
 */
#ifndef CIL_DATASET_H
#define CIL_DATASET_H
#include <stdint.h>
#include "../core/tensor.h"
#include "h5io.h"

typedef struct cil_dataset {
  int64_t n;
  int obs_dim, act_dim;
  cil_tensor *observations, *actions, *rewards, *terminals, *timeouts, *next_observations;
  /* [N] 1 where next_observations is a known successor, 0 where the file had no
   * next_observations and the row ends an episode or the file (its next_observations is then a
   * copy of its own observation). NULL when every successor is known. */
  cil_tensor *next_known;
  /* 1 when the file had no timeouts key and its time limits were inferred D4RL's way: an
   * episode that has not terminated after CIL_D4RL_MAX_STEPS rows is cut there */
  int timeouts_inferred;
} cil_dataset;
#define CIL_D4RL_MAX_STEPS 1000

/* Loaders fill d with new persistent tensors (refcount 1, owned by the caller; release with
 * cil_dataset_release). check_finite: refuse NaN/Inf in observations, actions, rewards,
 * next_observations. Errors name the file and the key. */
int cil_d4rl_load(const char *path, int check_finite, cil_dataset *d);
/* Minari: one group per episode ("episode_<k>", taken in order of k) with observations [T+1, D],
 * actions [T, A], rewards [T], terminations [T], truncations [T]. An episode whose last step has
 * neither flag is marked as a timeout there, so episode boundaries survive flattening. */
int cil_minari_load(const char *path, int check_finite, cil_dataset *d);
void cil_dataset_release(cil_dataset *d);
/* consistent shapes (same N everywhere, 2-D obs/act, 1-D or [N,1] rewards/flags). what = prefix */
int cil_dataset_validate(const cil_dataset *d, const char *what);
/* writes the core keys (flags as h5py bools, everything else float32) */
int cil_d4rl_write(cil_h5w *w, const cil_dataset *d, int gzip);

/* ---- trajectories ---- */
typedef struct {
  int64_t start, len;  /* rows [start, start+len) */
  int terminal;        /* ended by terminals[last] */
  int timeout;         /* ended by timeouts[last] (and not terminal) */
  int complete;        /* ended by a flag (0 only for the unflagged tail) */
  double ret;          /* sum of rewards */
} cil_traj;
/* split rows at terminals|timeouts; *count = number of trajectories (incl. an incomplete tail).
 * rewards may be NULL. Returns a malloc'd array (non-NULL even when empty) or NULL on OOM. */
cil_traj *cil_trajectories(const float *terminals, const float *timeouts, const float *rewards,
                           int64_t n, int64_t *count);

typedef enum {
  CIL_PICK_REFERENCE,       /* CleanIL: keep episode e iff e == 0 or episode e-1 did not terminate */
  CIL_PICK_FIRST,           /* the first complete episodes, whatever ended them */
  CIL_PICK_NOT_TERMINATED   /* complete episodes that did not terminate (ended by the time limit) */
} cil_pick_rule;
/* indices (into t) of the first `want` complete trajectories accepted by the rule, in file order;
 * returns how many were found (<= want). */
int64_t cil_pick_trajectories(const cil_traj *t, int64_t count, int64_t want, cil_pick_rule rule,
                              int64_t *chosen);

/* ---- rows ---- */
/* new persistent tensor made of src's rows idx[0..n) (0-based) */
cil_tensor *cil_take_rows(const cil_tensor *src, const int64_t *idx, int64_t n);
/* index of the first NaN/Inf element, or -1 */
int64_t cil_first_nonfinite(const float *x, int64_t n);
/* eval rows of a train/eval split: min(round(n * (1 - train_ratio)), max_eval), round half to even */
int64_t cil_eval_size(int64_t n, double train_ratio, int64_t max_eval);

/* per-column mean and unbiased (n-1) std over the rows of k 2-D tensors with the same width;
 * std = sqrt(var) + eps. New persistent [D] tensors. */
int cil_obs_stats(cil_tensor *const *xs, int k, double eps, cil_tensor **mean, cil_tensor **std);
/* (x - mean) / std per column, or x * std + mean when inverse; new persistent tensor */
cil_tensor *cil_normalize(const cil_tensor *x, const cil_tensor *mean, const cil_tensor *std, int inverse);
#endif
