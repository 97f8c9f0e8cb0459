/* cleanil/policy.h: a trained policy from C, without Lua.
 *
 *   cil_policy *p;
 *   if (cil_policy_load("runs/bc-hopper-seed0/policy.h5", NULL, &p) != CIL_POLICY_OK)
 *     fprintf(stderr, "%s\n", cil_policy_errmsg());
 *   float act[3];
 *   cil_policy_act(p, obs, 1, 11, act, 3);            deterministic: tanh(mu)
 *   cil_policy_free(p);
 *
 * What is loaded  the tanh-Gaussian actor cleanil trains (lua/cleanil/actor.lua): an MLP
 *                 obs -> 2*act_dim, "net.layers.<i>.weight" [out, in] and ".bias" [out], i = 1..L,
 *                 hidden sizes read from the file; out = [mu_raw, s]. Files: a policy file
 *                 ({actor, [obs_mean, obs_std]}: runs/<run>/policy.h5, data/<env>/expert_policy.h5), a
 *                 SAC/GAIL checkpoint (learner.sac.actor; read whole), or a run directory (its
 *                 policy.h5). A policy trained on normalized observations (BC, IQ-Learn, ...) stores
 *                 obs_mean/obs_std; they are applied as in training: x = (obs - mean) / std.
 * The computation exactly the Lua actor's, bit for bit on the same CPU and build (same GEMM and
 *                 activation kernels, same op order, one rounding per op):
 *                   h = act(x W1^T + b1) ... out = h W_L^T + b_L
 *                   mu = clamp(out[:, :A], -7.2477, 7.2477)        (atanh(1 - 1e-6) in float32)
 *                   log_std = (tanh(out[:, A:]) + 1) * (ln 3 - ln 1e-3) / 2 + ln 1e-3
 *                   deterministic: a = tanh(mu)
 *                   sampled:       a = tanh(mu + exp(log_std) * xi), xi ~ N(0, 1) drawn row-major
 *                                  from the caller's stream, as actor(obs):sample(cil.rng(seed)).
 * Memory          everything is allocated by cil_policy_load (and cil_policy_reserve); acting never
 *                 allocates (our GEMM keeps 576 KiB of packing buffers per thread, made on a thread's
 *                 first call and kept).
 * Threads         separate policy objects may be used from separate threads at the same time; one
 *                 object is not to be shared by threads acting at once (it holds its scratch). Acting
 *                 is lock-free and runs on the calling thread only. Loading takes a process-wide lock
 *                 (HDF5 is built without thread safety) and sets OpenBLAS to one thread, as cleanil
 *                 itself runs it (process-wide; parallelism is the caller's: one policy per thread).
 * Errors          every function returns CIL_POLICY_OK (0) or a negative code; nothing aborts.
 *                 cil_policy_strerror(code) names the code, cil_policy_errmsg() gives the details of
 *                 the last failure on the calling thread ("policy: x.h5: 'actor/net.layers.2.weight'
 *                 is [256, 255], expected [256, 256]").
 */
#ifndef CIL_POLICY_H
#define CIL_POLICY_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  CIL_POLICY_OK = 0,
  CIL_POLICY_EARG = -1,    /* a NULL pointer, a batch below 1, an unknown option value */
  CIL_POLICY_ESIZE = -2,   /* sizes given do not match the policy, or the batch exceeds max_batch */
  CIL_POLICY_EFILE = -3,   /* cannot read the file as a cleanil checkpoint: missing, unreadable, not
                              HDF5, truncated or damaged (checksums) */
  CIL_POLICY_EFORMAT = -4, /* the file holds no actor of the expected layout (names, ranks, shapes) */
  CIL_POLICY_EVALUE = -5,  /* a weight or a normalization statistic is NaN or infinite, or std <= 0 */
  CIL_POLICY_ENOMEM = -6   /* out of memory */
};

/* hidden-layer activation: lua/cleanil/nn.lua's names (the file does not record it) */
typedef enum {
  CIL_POLICY_SILU = 0, CIL_POLICY_RELU, CIL_POLICY_TANH, CIL_POLICY_SIGMOID, CIL_POLICY_LEAKY_RELU,
  CIL_POLICY_IDENTITY
} cil_policy_activation;

typedef struct cil_policy_opts {
  int max_batch;          /* most observations per call; scratch is sized for it (default 256) */
  int activation;         /* a cil_policy_activation (default CIL_POLICY_SILU, cleanil's default) */
} cil_policy_opts;
cil_policy_opts cil_policy_opts_default(void);

/* the random stream of sampled actions: the engine's xoshiro256** generator; seeded with
 * cil_policy_rng_seed(r, s) it gives the numbers of cil.rng(s) in Lua. Plain data: copy it to fork. */
typedef struct cil_policy_rng {
  uint64_t s[4];
} cil_policy_rng;
void cil_policy_rng_seed(cil_policy_rng *r, uint64_t seed);

typedef struct cil_policy cil_policy;

/* load path (a policy file, a checkpoint, or a run directory); opts NULL: the defaults. On success
 * *out is the policy; on failure *out is NULL and the code tells why. */
int cil_policy_load(const char *path, const cil_policy_opts *opts, cil_policy **out);
void cil_policy_free(cil_policy *p);            /* NULL is fine */

int cil_policy_obs_dim(const cil_policy *p);    /* observation size (the first layer's input) */
int cil_policy_act_dim(const cil_policy *p);    /* action size (half the last layer's output) */
int cil_policy_max_batch(const cil_policy *p);
int cil_policy_normalizes(const cil_policy *p); /* 1 if the file stored obs_mean/obs_std */
/* grow the scratch to batches of up to n rows (allocates; the only call after loading that does) */
int cil_policy_reserve(cil_policy *p, int n);

/* act[n * act_dim] from obs[n * obs_dim] (row-major; n rows, 1 <= n <= max_batch). obs_dim and
 * act_dim are the caller's sizes, checked against the policy's. Deterministic: tanh(mu). */
int cil_policy_act(cil_policy *p, const float *obs, int n, int obs_dim, float *act, int act_dim);
/* sampled actions, drawing n * act_dim normals from *rng (advanced, as in Lua) */
int cil_policy_sample(cil_policy *p, const float *obs, int n, int obs_dim, cil_policy_rng *rng, float *act,
                      int act_dim);

const char *cil_policy_strerror(int code);      /* a constant string for a code */
const char *cil_policy_errmsg(void);            /* the last failure on this thread, in detail */

#ifdef __cplusplus
}
#endif
#endif
