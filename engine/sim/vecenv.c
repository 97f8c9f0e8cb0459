/* Vectorized environment: N mjData over one mjModel, stepped in one call, optionally on threads.
 *
 * Threads: a small pool of pthreads (ours). A call hands each thread a contiguous block of envs;
 * the calling thread works on block 0 and waits for the others. Envs never share mutable state,
 * and each has its own rng, so any thread count gives bit-identical results.
 *
 * MuJoCo errors (mju_error) would normally exit the process. We install a handler that longjmps
 * back to the env being stepped on the same thread; the env is then reset and the call fails with
 * the message. MuJoCo warnings (e.g. unstable simulation, which MuJoCo answers by resetting the
 * data itself, as under Gymnasium) are silenced instead of being printed and logged to a file. */
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/tensor.h"
#include "../core/internal.h"
#include "env.h"

/* ---------------------------------------------------------------- MuJoCo error trapping */

static _Thread_local jmp_buf *tl_jmp;   /* where mju_error returns to on this thread */
static _Thread_local char tl_msg[256];  /* its message */

static void on_mj_error(const char *msg) {
  snprintf(tl_msg, sizeof tl_msg, "%s", msg);
  if (tl_jmp) longjmp(*tl_jmp, 1);
  /* not inside a trapped call: nothing safe to return to; report and stop this thread's caller */
  fprintf(stderr, "cleanil: MuJoCo error outside a trapped call: %s\n", msg);
  abort(); /* unreachable in practice: every MuJoCo call we make is trapped */
}
static void on_mj_warning(const char *msg) { (void)msg; }

/* remember the first MuJoCo error of a call in e->errmsg (threads may fail at the same time) */
static pthread_mutex_t errmsg_mu = PTHREAD_MUTEX_INITIALIZER;
static void note_error(cil_vecenv *e, int i) {
  pthread_mutex_lock(&errmsg_mu);
  if (!e->errmsg[0]) snprintf(e->errmsg, sizeof e->errmsg, "env %d: %.200s", i, tl_msg);
  pthread_mutex_unlock(&errmsg_mu);
}

static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;
static void install_handlers(void) {
  mju_user_error = on_mj_error;
  mju_user_warning = on_mj_warning;
}

/* ---------------------------------------------------------------- thread pool */

typedef void (*cil_poolfn)(cil_vecenv *e, int lo, int hi);

struct cil_pool {
  int n;                 /* threads including the caller */
  pthread_t *th;         /* [n - 1] workers */
  pthread_mutex_t mu;    /* guards everything below */
  pthread_cond_t go;     /* workers wait here for a new generation */
  pthread_cond_t done;   /* the caller waits here for pending == 0 */
  uint64_t gen;          /* job generation */
  int pending;           /* workers still running the current job */
  int quit;              /* shut down */
  cil_poolfn fn;         /* current job */
  cil_vecenv *env;       /* its argument */
};

typedef struct {
  cil_pool *p;
  int tid;
} worker_arg;

static void block_of(const cil_vecenv *e, int tid, int nt, int *lo, int *hi) {
  *lo = (int)((int64_t)e->num_envs * tid / nt);
  *hi = (int)((int64_t)e->num_envs * (tid + 1) / nt);
}

static void *worker_main(void *arg) {
  worker_arg a = *(worker_arg *)arg;
  free(arg);
  cil_pool *p = a.p;
  uint64_t seen = 0;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
    if (p->quit) {
      pthread_mutex_unlock(&p->mu);
      return NULL;
    }
    seen = p->gen;
    cil_poolfn fn = p->fn;
    cil_vecenv *e = p->env;
    pthread_mutex_unlock(&p->mu);
    int lo, hi;
    block_of(e, a.tid, p->n, &lo, &hi);
    cil_fpenv_sync();
    fn(e, lo, hi);
    pthread_mutex_lock(&p->mu);
    if (--p->pending == 0) pthread_cond_signal(&p->done);
    pthread_mutex_unlock(&p->mu);
  }
}

static void pool_free(cil_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->quit = 1;
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n - 1; i++)
    if (p->th[i]) pthread_join(p->th[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->go);
  pthread_cond_destroy(&p->done);
  free(p->th);
  free(p);
}

static cil_pool *pool_new(int n) {
  cil_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->n = n;
  p->th = calloc((size_t)n, sizeof *p->th);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->go, NULL);
  pthread_cond_init(&p->done, NULL);
  if (!p->th) {
    pool_free(p);
    return NULL;
  }
  for (int i = 0; i < n - 1; i++) {
    worker_arg *a = malloc(sizeof *a);
    if (a) {
      a->p = p;
      a->tid = i + 1;
    }
    if (!a || cil_thread_spawn(&p->th[i], worker_main, a) != 0) {
      free(a);
      p->th[i] = 0;
      p->n = i + 1; /* keep the workers that started */
      break;
    }
  }
  return p;
}

/* run fn over all envs, split over the pool (or inline) */
static void run(cil_vecenv *e, cil_poolfn fn) {
  cil_pool *p = e->pool;
  if (!p || p->n <= 1) {
    fn(e, 0, e->num_envs);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->env = e;
  p->pending = p->n - 1;
  p->gen++;
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
  int lo, hi;
  block_of(e, 0, p->n, &lo, &hi);
  fn(e, lo, hi);
  pthread_mutex_lock(&p->mu);
  while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------------- one env */

/* Gymnasium reset: mj_resetData, qpos0 + noise, qvel + noise, mj_forward, observe */
static int reset_env(cil_vecenv *e, int i) {
  const mjModel *m = e->model;
  mjData *d = e->data[i];
  jmp_buf jb;
  jmp_buf *saved = tl_jmp;
  if (setjmp(jb)) {
    tl_jmp = saved;
    note_error(e, i);
    mj_resetData(m, d);
    e->status[i] = -1;
    return -1;
  }
  tl_jmp = &jb;
  mj_resetData(m, d);
  e->task->reset_noise(e->task, m, d, &e->rng[i]);
  mj_forward(m, d);
  tl_jmp = saved;
  e->task->observe(e->task, m, d, e->obs + (int64_t)i * e->obs_dim);
  e->elapsed[i] = 0;
  return 0;
}

/* one env step: ctrl <- action, frame_skip x mj_step, reward, flags, observation, autoreset */
static void step_env(cil_vecenv *e, int i) {
  const cil_task *t = e->task;
  const mjModel *m = e->model;
  mjData *d = e->data[i];
  const double *a = e->act + (int64_t)i * e->act_dim;
  double *obs = e->obs + (int64_t)i * e->obs_dim;
  double *fin = e->final_obs + (int64_t)i * e->obs_dim;
  jmp_buf jb;
  jmp_buf *saved = tl_jmp;
  e->status[i] = 0;
  e->was_reset[i] = 0;
  if (setjmp(jb)) {
    tl_jmp = saved;
    note_error(e, i);
    e->status[i] = -1;
    mj_resetData(m, d);
    e->rew[i] = 0;
    e->terminated[i] = 0;
    e->truncated[i] = 0;
    return;
  }
  tl_jmp = &jb;
  double x_before = d->qpos[0];
  for (int j = 0; j < e->act_dim; j++) d->ctrl[j] = a[j];
  for (int k = 0; k < t->frame_skip; k++) mj_step(m, d);
  tl_jmp = saved;
  e->rew[i] = t->reward(t, m, d, x_before, a, e->info + (int64_t)i * t->n_info);
  e->terminated[i] = (uint8_t)t->terminated(t, d);
  e->elapsed[i]++;
  e->truncated[i] = (uint8_t)(e->max_episode_steps > 0 && e->elapsed[i] >= e->max_episode_steps);
  t->observe(t, m, d, obs);
  memcpy(fin, obs, sizeof(double) * (size_t)e->obs_dim);
  if (e->autoreset && (e->terminated[i] || e->truncated[i])) {
    reset_env(e, i);
    e->was_reset[i] = 1;
  }
}

static void step_block(cil_vecenv *e, int lo, int hi) {
  for (int i = lo; i < hi; i++) step_env(e, i);
}
static void reset_block(cil_vecenv *e, int lo, int hi) {
  for (int i = lo; i < hi; i++) {
    e->status[i] = 0;
    reset_env(e, i);
  }
}

/* collect per-env failures into one error; 0 if none */
static int gather_status(cil_vecenv *e, const char *what) {
  int bad = -1, count = 0;
  for (int i = 0; i < e->num_envs; i++)
    if (e->status[i]) {
      if (bad < 0) bad = i;
      count++;
    }
  if (bad < 0) return 0;
  cil_seterr("env %s %s: MuJoCo error in %s (%d env(s) failed and were reset)", e->task->name,
             what, e->errmsg, count);
  return -1;
}

/* ---------------------------------------------------------------- public API */

cil_envopts cil_envopts_default(void) {
  cil_envopts o = {.num_envs = 1, .seed = 0, .threads = 1, .autoreset = 0,
                   .max_episode_steps = 1000, .model_dir = NULL};
  return o;
}

void cil_vecenv_free(cil_vecenv *e) {
  if (!e) return;
  pool_free(e->pool);
  if (e->data)
    for (int i = 0; i < e->num_envs; i++)
      if (e->data[i]) mj_deleteData(e->data[i]);
  if (e->model) mj_deleteModel(e->model);
  free(e->data);
  free(e->rng);
  free(e->elapsed);
  free(e->act);
  free(e->obs);
  free(e->final_obs);
  free(e->rew);
  free(e->terminated);
  free(e->truncated);
  free(e->was_reset);
  free(e->info);
  free(e->status);
  free(e);
}

cil_vecenv *cil_vecenv_make(const char *name, const cil_envopts *opts) {
  cil_envopts o = opts ? *opts : cil_envopts_default();
  const cil_task *t = cil_task_find(name);
  if (!t) return NULL;
  if (o.num_envs < 1 || o.num_envs > 1 << 20) {
    cil_seterr("env %s: num_envs must be in 1..%d, got %d", t->name, 1 << 20, o.num_envs);
    return NULL;
  }
  if (o.threads < 1 || o.threads > 256) {
    cil_seterr("env %s: threads must be in 1..256, got %d", t->name, o.threads);
    return NULL;
  }
  pthread_once(&handlers_once, install_handlers);
  cil_vecenv *e = calloc(1, sizeof *e);
  if (!e) {
    cil_seterr("env %s: out of memory", t->name);
    return NULL;
  }
  int n = o.num_envs;
  e->task = t;
  e->num_envs = n;
  e->obs_dim = t->obs_dim;
  e->act_dim = t->act_dim;
  e->max_episode_steps = o.max_episode_steps;
  e->autoreset = o.autoreset ? 1 : 0;
  e->num_threads = o.threads < n ? o.threads : n;
  e->model = cil_task_load_model(t, o.model_dir);
  if (!e->model) {
    free(e);
    return NULL;
  }
  e->dt = e->model->opt.timestep * t->frame_skip;
  e->data = calloc((size_t)n, sizeof *e->data);
  e->rng = calloc((size_t)n, sizeof *e->rng);
  e->elapsed = calloc((size_t)n, sizeof *e->elapsed);
  e->act = calloc((size_t)n * t->act_dim, sizeof *e->act);
  e->obs = calloc((size_t)n * t->obs_dim, sizeof *e->obs);
  e->final_obs = calloc((size_t)n * t->obs_dim, sizeof *e->final_obs);
  e->rew = calloc((size_t)n, sizeof *e->rew);
  e->terminated = calloc((size_t)n, 1);
  e->truncated = calloc((size_t)n, 1);
  e->was_reset = calloc((size_t)n, 1);
  e->info = calloc((size_t)n * t->n_info, sizeof *e->info);
  e->status = calloc((size_t)n, sizeof *e->status);
  if (!e->data || !e->rng || !e->elapsed || !e->act || !e->obs || !e->final_obs || !e->rew ||
      !e->terminated || !e->truncated || !e->was_reset || !e->info || !e->status) {
    cil_vecenv_free(e);
    cil_seterr("env %s: out of memory for %d envs", t->name, n);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    jmp_buf jb;
    if (setjmp(jb)) {
      tl_jmp = NULL;
      cil_vecenv_free(e);
      cil_seterr("env %s: mj_makeData failed: %s", t->name, tl_msg);
      return NULL;
    }
    tl_jmp = &jb;
    e->data[i] = mj_makeData(e->model);
    tl_jmp = NULL;
    if (!e->data[i]) {
      cil_vecenv_free(e);
      cil_seterr("env %s: mj_makeData failed (out of memory?)", t->name);
      return NULL;
    }
  }
  if (e->num_threads > 1) {
    e->pool = pool_new(e->num_threads);
    if (!e->pool) {
      cil_vecenv_free(e);
      cil_seterr("env %s: cannot start %d threads", t->name, o.threads);
      return NULL;
    }
    e->num_threads = e->pool->n;
  }
  if (cil_vecenv_reset(e, &o.seed) != 0) {
    cil_vecenv_free(e);
    return NULL;
  }
  return e;
}

int cil_vecenv_reset(cil_vecenv *e, const uint64_t *seed) {
  if (seed)
    for (int i = 0; i < e->num_envs; i++) cil_rng_seed(&e->rng[i], *seed + (uint64_t)i);
  e->errmsg[0] = 0;
  run(e, reset_block);
  memcpy(e->final_obs, e->obs, sizeof(double) * (size_t)e->num_envs * e->obs_dim);
  memset(e->rew, 0, sizeof(double) * (size_t)e->num_envs);
  memset(e->terminated, 0, (size_t)e->num_envs);
  memset(e->truncated, 0, (size_t)e->num_envs);
  memset(e->was_reset, 0, (size_t)e->num_envs);
  memset(e->info, 0, sizeof(double) * (size_t)e->num_envs * e->task->n_info);
  return gather_status(e, "reset");
}

int cil_vecenv_reset_one(cil_vecenv *e, int i, const uint64_t *seed) {
  if (i < 0 || i >= e->num_envs) {
    cil_seterr("env %s reset_one: index %d out of range 0..%d", e->task->name, i, e->num_envs - 1);
    return -1;
  }
  if (seed) cil_rng_seed(&e->rng[i], *seed);
  e->status[i] = 0;
  e->errmsg[0] = 0;
  if (reset_env(e, i) != 0) {
    cil_seterr("env %s reset_one: MuJoCo error in %s", e->task->name, e->errmsg);
    return -1;
  }
  memcpy(e->final_obs + (int64_t)i * e->obs_dim, e->obs + (int64_t)i * e->obs_dim,
         sizeof(double) * (size_t)e->obs_dim);
  e->rew[i] = 0;
  e->terminated[i] = e->truncated[i] = e->was_reset[i] = 0;
  return 0;
}

int cil_vecenv_step(cil_vecenv *e, const double *act) {
  if (act != e->act) memcpy(e->act, act, sizeof(double) * (size_t)e->num_envs * e->act_dim);
  e->errmsg[0] = 0;
  run(e, step_block);
  return gather_status(e, "step");
}

int cil_vecenv_get_state(const cil_vecenv *e, int i, double *qpos, double *qvel) {
  if (i < 0 || i >= e->num_envs) {
    cil_seterr("env %s: index %d out of range 0..%d", e->task->name, i, e->num_envs - 1);
    return -1;
  }
  if (qpos) memcpy(qpos, e->data[i]->qpos, sizeof(double) * (size_t)e->model->nq);
  if (qvel) memcpy(qvel, e->data[i]->qvel, sizeof(double) * (size_t)e->model->nv);
  return 0;
}

int cil_vecenv_set_state(cil_vecenv *e, int i, const double *qpos, const double *qvel) {
  if (i < 0 || i >= e->num_envs) {
    cil_seterr("env %s set_state: index %d out of range 0..%d", e->task->name, i, e->num_envs - 1);
    return -1;
  }
  mjData *d = e->data[i];
  if (qpos) memcpy(d->qpos, qpos, sizeof(double) * (size_t)e->model->nq);
  if (qvel) memcpy(d->qvel, qvel, sizeof(double) * (size_t)e->model->nv);
  jmp_buf jb;
  if (setjmp(jb)) {
    tl_jmp = NULL;
    mj_resetData(e->model, d);
    cil_seterr("env %s set_state: MuJoCo error in env %d: %s", e->task->name, i, tl_msg);
    return -1;
  }
  tl_jmp = &jb;
  mj_forward(e->model, d);
  tl_jmp = NULL;
  e->task->observe(e->task, e->model, d, e->obs + (int64_t)i * e->obs_dim);
  return 0;
}
