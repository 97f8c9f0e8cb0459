/* The C API for trained policies (engine/deploy/policy.h):
 *  - its actions equal the Lua actor's bit for bit (deterministic, sampled, and a second sample from the
 *    same stream) on batches of 1, 5, 64 and 300 rows, for the shipped hopper expert (3 x 256 SiLU, no
 *    normalization) and for made-up actors with observation statistics, other widths and activations
 *    and a head large enough to reach the mu clamp -- the Lua side runs in the cleanil program
 *    ($CLEANIL_BIN, set by ctest);
 *  - separate policy objects on two threads give the single-thread bits;
 *  - missing, truncated, foreign and damaged files, wrong dataset shapes, NaN/inf values and wrong
 *    sizes are error codes with a message, never a crash. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "core/rng.h"
#include "data/h5io.h"
#include "deploy/policy.h"

static char tmp[512];
static const char *srcdir;

enum { OK_FILE, BAD_W2_SHAPE, BAD_BIAS_LEN, BAD_W1D, BAD_ODD_HEAD, BAD_NO_BIAS, BAD_GAP, BAD_MEAN_LEN, BAD_ONLY_MEAN,
       BAD_NAN_W, BAD_INF_B, BAD_STD0, BAD_STDNEG, BAD_NAN_MEAN, BAD_NO_ACTOR, BAD_ACTOR_TENSOR };

typedef struct {
  int O, A, nh, hidden[4], stats;
  float head_scale;
  uint64_t seed;
} spec;

/* a policy file as cil.checkpoint.save writes {actor = actor:state_dict(), obs_mean, obs_std, step} */
static int write_policy(const char *path, const spec *s, int bad) {
  cil_h5w *w = cil_h5w_create(path, 1);
  if (!w) return 0;
  cil_rng r;
  cil_rng_seed(&r, s->seed);
  int sizes[8], L = s->nh + 1;
  sizes[0] = s->O;
  for (int i = 0; i < s->nh; i++) sizes[i + 1] = s->hidden[i];
  sizes[L] = 2 * s->A + (bad == BAD_ODD_HEAD);
  int ok = 1;
  if (bad == BAD_ACTOR_TENSOR) {
    float v[2] = {1, 2};
    int64_t sh[1] = {2};
    ok = cil_h5w_floats(w, "actor", v, 1, sh, 0, "tensor");
  } else if (bad != BAD_NO_ACTOR) {
    ok = cil_h5w_group(w, "actor", "table");
    for (int l = 0; l < L && ok; l++) {
      if (bad == BAD_GAP && l == 1) continue;
      int in = sizes[l], out = sizes[l + 1];
      if (bad == BAD_W2_SHAPE && l == 1) in += 1;
      float bound = 1.0f / sqrtf((float)in) * (l == L - 1 ? s->head_scale : 1.0f);
      float *wt = malloc(sizeof(float) * (size_t)out * in), *b = malloc(sizeof(float) * (out + 1));
      cil_rng_fill_uniform(&r, wt, (int64_t)out * in, -bound, bound);
      cil_rng_fill_uniform(&r, b, out + 1, -bound, bound);
      if (bad == BAD_NAN_W && l == 1) wt[3] = NAN;
      if (bad == BAD_INF_B && l == L - 1) b[0] = INFINITY;
      char name[96];
      snprintf(name, sizeof name, "actor/net.layers.%d.weight", l + 1);
      int64_t ws[2] = {out, in}, wflat[1] = {(int64_t)out * in}, bs[1] = {out + (bad == BAD_BIAS_LEN && l == 0)};
      ok = bad == BAD_W1D && l == 0 ? cil_h5w_floats(w, name, wt, 1, wflat, 0, "tensor")
                                   : cil_h5w_floats(w, name, wt, 2, ws, 0, "tensor");
      snprintf(name, sizeof name, "actor/net.layers.%d.bias", l + 1);
      if (ok && !(bad == BAD_NO_BIAS && l == 1)) ok = cil_h5w_floats(w, name, b, 1, bs, 0, "tensor");
      free(wt);
      free(b);
    }
  }
  if (ok && (s->stats || bad == BAD_ONLY_MEAN)) {
    float m[64] = {0}, sd[64] = {0};
    for (int j = 0; j < s->O; j++) {
      m[j] = (float)(0.5 * cil_rng_normal(&r));
      sd[j] = (float)(0.2 + cil_rng_uniform(&r));
    }
    if (bad == BAD_STD0) sd[1] = 0;
    if (bad == BAD_STDNEG) sd[0] = -1;
    if (bad == BAD_NAN_MEAN) m[2] = NAN;
    int64_t n[1] = {s->O + (bad == BAD_MEAN_LEN)};
    ok = cil_h5w_floats(w, "obs_mean", m, 1, n, 0, "tensor");
    if (ok && bad != BAD_ONLY_MEAN) ok = cil_h5w_floats(w, "obs_std", sd, 1, n, 0, "tensor");
  }
  if (ok) ok = cil_h5w_int(w, "step", 7, "int");
  if (!ok) {
    cil_h5w_abort(w);
    return 0;
  }
  return cil_h5w_commit(w);
}

/* ---------------------------------------------------------------- bit for bit against Lua */
static const int BATCHES[] = {1, 5, 64, 300};
#define NB 4

static const char *LUA_REF =
    "-- reference actions of the Lua actor for test_policy.c\n"
    "local path, act, O, A, hidden, out = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), arg[5], arg[6]\n"
    "local h = {}\n"
    "for x in hidden:gmatch('%d+') do h[#h + 1] = tonumber(x) end\n"
    "local ck = cil.checkpoint.load(path)\n"
    "local actor = cil.TanhNormalActor(O, A, h, {activation = act})\n"
    "actor:load_state_dict(ck.actor)\n"
    "local function input(o) return ck.obs_mean and (o - ck.obs_mean) / ck.obs_std or o end\n"
    "local res = {}\n"
    "for _, n in ipairs({1, 5, 64, 300}) do\n"
    "  cil.reset()\n"
    "  local obs = cil.randn(cil.rng(100 + n), n, O) * 3\n"
    "  res['det' .. n] = actor:act_deterministic(input(obs)):persist()\n"
    "  local rng = cil.rng(200 + n)\n"
    "  res['samp' .. n] = cil.no_grad(function() return actor(input(obs)):sample(rng) end):persist()\n"
    "  res['again' .. n] = cil.no_grad(function() return actor(input(obs)):sample(rng) end):persist()\n"
    "end\n"
    "cil.checkpoint.save(out, res)\n";

static void make_obs(int n, int O, float *obs) {
  cil_rng r;
  cil_rng_seed(&r, 100 + (uint64_t)n);
  cil_rng_fill_normal(&r, obs, (int64_t)n * O, 0.0f, 1.0f);
  for (int i = 0; i < n * O; i++) obs[i] = obs[i] * 3.0f;
}

static int same_bits(const float *a, const cil_h5node *ref, int64_t n) {
  return ref && ref->type == CIL_H5_TENSOR && ref->tensor->numel == n && memcmp(a, ref->tensor->data, n * sizeof(float)) == 0;
}
static int64_t first_diff(const float *a, const float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (memcmp(a + i, b + i, sizeof(float))) return i;
  return -1;
}

static void compare_with_lua(const char *name, const char *path, const char *act_name, int activation, int O, int A,
                             const char *hidden) {
  const char *bin = getenv("CLEANIL_BIN");
  if (!bin || !*bin) {
    printf("skip %s: CLEANIL_BIN is not set (ctest sets it), no Lua comparison\n", name);
    return;
  }
  char script[700], out[700], log[700], cmd[4096];
  snprintf(script, sizeof script, "%s/ref.lua", tmp);
  snprintf(out, sizeof out, "%s/ref-%s.h5", tmp, name);
  snprintf(log, sizeof log, "%s/ref-%s.log", tmp, name);
  FILE *f = fopen(script, "w");
  fputs(LUA_REF, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %s %d %d %s '%s' > '%s' 2>&1", bin, script, path, act_name, O, A, hidden, out,
           log);
  int rc = system(cmd);
  CHECK(rc == 0, "%s: the Lua reference failed (%d), see %s", name, rc, log);
  if (rc != 0) return;
  cil_h5node *ref = cil_h5_read_tree(out, "/", 1);
  CHECK(ref != NULL, "%s: cannot read %s: %s", name, out, cil_errmsg());
  if (!ref) return;
  cil_policy_opts opts = cil_policy_opts_default();
  opts.max_batch = 300;
  opts.activation = activation;
  cil_policy *p;
  int lrc = cil_policy_load(path, &opts, &p);
  CHECK(lrc == CIL_POLICY_OK, "%s: load: %s", name, cil_policy_errmsg());
  if (lrc) {
    cil_h5_free_tree(ref);
    return;
  }
  CHECK(cil_policy_obs_dim(p) == O && cil_policy_act_dim(p) == A, "%s: sizes %d, %d", name, cil_policy_obs_dim(p),
        cil_policy_act_dim(p));
  float *obs = malloc(sizeof(float) * 300 * O), *act = malloc(sizeof(float) * 300 * A);
  for (int k = 0; k < NB; k++) {
    int n = BATCHES[k];
    char key[32];
    make_obs(n, O, obs);
    CHECK(cil_policy_act(p, obs, n, O, act, A) == 0, "%s: act", name);
    snprintf(key, sizeof key, "det%d", n);
    const cil_h5node *r = cil_h5_find(ref, key);
    CHECK(same_bits(act, r, (int64_t)n * A), "%s: deterministic actions of %d rows differ from Lua's (first at %lld)",
          name, n, r ? (long long)first_diff(act, r->tensor->data, (int64_t)n * A) : -1LL);
    cil_policy_rng rng;
    cil_policy_rng_seed(&rng, 200 + (uint64_t)n);
    CHECK(cil_policy_sample(p, obs, n, O, &rng, act, A) == 0, "%s: sample", name);
    snprintf(key, sizeof key, "samp%d", n);
    r = cil_h5_find(ref, key);
    CHECK(same_bits(act, r, (int64_t)n * A), "%s: sampled actions of %d rows differ from Lua's (first at %lld)", name, n,
          r ? (long long)first_diff(act, r->tensor->data, (int64_t)n * A) : -1LL);
    CHECK(cil_policy_sample(p, obs, n, O, &rng, act, A) == 0, "%s: sample again", name);
    snprintf(key, sizeof key, "again%d", n);
    CHECK(same_bits(act, cil_h5_find(ref, key), (int64_t)n * A),
          "%s: the second sample of %d rows (the stream continued) differs from Lua's", name, n);
  }
  free(obs);
  free(act);
  cil_policy_free(p);
  cil_h5_free_tree(ref);
}

/* ---------------------------------------------------------------- threads */
typedef struct {
  const char *path;
  const float *obs;
  float *act;
  int O, A, n, rc;
} job;
static void *thread_run(void *arg) {
  job *j = arg;
  cil_policy *p;
  j->rc = cil_policy_load(j->path, NULL, &p);
  if (j->rc) return NULL;
  for (int it = 0; it < 50 && !j->rc; it++) j->rc = cil_policy_act(p, j->obs, j->n, j->O, j->act, j->A);
  cil_policy_rng rng;
  cil_policy_rng_seed(&rng, 5);
  if (!j->rc) j->rc = cil_policy_sample(p, j->obs, j->n, j->O, &rng, j->act + j->n * j->A, j->A);
  cil_policy_free(p);
  return NULL;
}
static void test_threads(const char *path, int O, int A) {
  int n = 64;
  float *obs = malloc(sizeof(float) * n * O), *want = malloc(sizeof(float) * 2 * n * A);
  make_obs(n, O, obs);
  job one = {path, obs, want, O, A, n, 0};
  thread_run(&one);
  CHECK(one.rc == 0, "threads: the single-thread run failed: %s", cil_policy_errmsg());
  job js[2];
  pthread_t th[2];
  for (int t = 0; t < 2; t++) {
    js[t] = (job){path, obs, malloc(sizeof(float) * 2 * n * A), O, A, n, 0};
    pthread_create(&th[t], NULL, thread_run, &js[t]);
  }
  for (int t = 0; t < 2; t++) {
    pthread_join(th[t], NULL);
    CHECK(js[t].rc == 0 && memcmp(js[t].act, want, sizeof(float) * 2 * n * A) == 0,
          "threads: thread %d (rc %d) differs from the single-thread run", t, js[t].rc);
    free(js[t].act);
  }
  free(obs);
  free(want);
}

/* ---------------------------------------------------------------- errors */
static void expect_load(const char *what, const char *path, const cil_policy_opts *o, int want, const char *in_msg) {
  cil_policy *p = (cil_policy *)&p; /* not NULL: a failed load must set it to NULL */
  int rc = cil_policy_load(path, o, &p);
  CHECK(rc == want && (rc != 0 || p) && (rc == 0 || !p), "%s: code %d (%s), expected %d; %s", what, rc,
        cil_policy_strerror(rc), want, cil_policy_errmsg());
  if (in_msg) CHECK(strstr(cil_policy_errmsg(), in_msg) != NULL, "%s: message '%s' lacks '%s'", what, cil_policy_errmsg(), in_msg);
  cil_policy_free(rc == 0 ? p : NULL);
}

static void copy_prefix(const char *src, const char *dst, double frac) {
  FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
  fseek(a, 0, SEEK_END);
  long n = ftell(a);
  fseek(a, 0, SEEK_SET);
  long keep = (long)(n * frac);
  char *buf = malloc(n);
  size_t got = fread(buf, 1, n, a);
  fwrite(buf, 1, keep < (long)got ? keep : (long)got, b);
  free(buf);
  fclose(a);
  fclose(b);
}

static void test_errors(const char *good, const spec *s) {
  char p[700], expert[700];
  snprintf(expert, sizeof expert, "%s/data/hopper/expert_policy.h5", srcdir);
  snprintf(p, sizeof p, "%s/nonexistent.h5", tmp);
  expect_load("missing file", p, NULL, CIL_POLICY_EFILE, "cannot open");
  expect_load("a directory without policy.h5", tmp, NULL, CIL_POLICY_EFILE, "policy.h5");
  snprintf(p, sizeof p, "%s/truncated.h5", tmp);
  copy_prefix(expert, p, 0.5);
  expect_load("truncated file", p, NULL, CIL_POLICY_EFILE, NULL);
  copy_prefix(expert, p, 0.999);
  expect_load("file missing its last bytes", p, NULL, CIL_POLICY_EFILE, NULL);
  copy_prefix(expert, p, 0.0);
  expect_load("empty file", p, NULL, CIL_POLICY_EFILE, NULL);
  snprintf(p, sizeof p, "%s/text.h5", tmp);
  FILE *f = fopen(p, "w");
  fputs("not an HDF5 file\n", f);
  fclose(f);
  expect_load("text file", p, NULL, CIL_POLICY_EFILE, NULL);
  snprintf(p, sizeof p, "%s/data/hopper/expert.h5", srcdir);
  expect_load("a D4RL dataset (not a checkpoint)", p, NULL, CIL_POLICY_EFILE, NULL);
  /* a damaged byte in the middle of a weight: the checksum catches it */
  snprintf(p, sizeof p, "%s/flipped.h5", tmp);
  copy_prefix(expert, p, 1.0);
  f = fopen(p, "r+b");
  fseek(f, 300000, SEEK_SET);
  int c = fgetc(f);
  fseek(f, 300000, SEEK_SET);
  fputc(c ^ 0x40, f);
  fclose(f);
  expect_load("a flipped bit", p, NULL, CIL_POLICY_EFILE, NULL);

  struct { int bad, code; const char *msg; } cases[] = {
      {BAD_W2_SHAPE, CIL_POLICY_EFORMAT, "net.layers.2.weight"}, {BAD_BIAS_LEN, CIL_POLICY_EFORMAT, "net.layers.1.bias"},
      {BAD_W1D, CIL_POLICY_EFORMAT, "net.layers.1.weight"},      {BAD_ODD_HEAD, CIL_POLICY_EFORMAT, "2 * act_dim"},
      {BAD_NO_BIAS, CIL_POLICY_EFORMAT, "net.layers.2.bias"},    {BAD_GAP, CIL_POLICY_EFORMAT, "net.layers.2.weight"},
      {BAD_MEAN_LEN, CIL_POLICY_EFORMAT, "obs_mean"},            {BAD_ONLY_MEAN, CIL_POLICY_EFORMAT, "obs_std"},
      {BAD_NAN_W, CIL_POLICY_EVALUE, "layer 2"},                 {BAD_INF_B, CIL_POLICY_EVALUE, "layer 3"},
      {BAD_STD0, CIL_POLICY_EVALUE, "obs_std[1]"},               {BAD_STDNEG, CIL_POLICY_EVALUE, "obs_std[0]"},
      {BAD_NAN_MEAN, CIL_POLICY_EVALUE, "obs_mean[2]"},          {BAD_NO_ACTOR, CIL_POLICY_EFORMAT, "holds no actor"},
      {BAD_ACTOR_TENSOR, CIL_POLICY_EFORMAT, "holds no actor"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(p, sizeof p, "%s/bad%zu.h5", tmp, i);
    CHECK(write_policy(p, s, cases[i].bad), "writing bad file %zu: %s", i, cil_errmsg());
    char what[64];
    snprintf(what, sizeof what, "bad file kind %d", cases[i].bad);
    expect_load(what, p, NULL, cases[i].code, cases[i].msg);
  }

  /* arguments */
  cil_policy *q = NULL;
  CHECK(cil_policy_load(NULL, NULL, &q) == CIL_POLICY_EARG && !q, "NULL path");
  CHECK(cil_policy_load(good, NULL, NULL) == CIL_POLICY_EARG, "NULL out");
  cil_policy_opts o = cil_policy_opts_default();
  o.max_batch = 0;
  expect_load("max_batch 0", good, &o, CIL_POLICY_EARG, "max_batch");
  o = cil_policy_opts_default();
  o.activation = 99;
  expect_load("unknown activation", good, &o, CIL_POLICY_EARG, "activation");
  snprintf(p, sizeof p, "%s/run", tmp);
  expect_load("a run directory", p, NULL, CIL_POLICY_OK, NULL);

  o = cil_policy_opts_default();
  o.max_batch = 4;
  CHECK(cil_policy_load(good, &o, &q) == 0, "load: %s", cil_policy_errmsg());
  int O = s->O, A = s->A;
  float obs[64 * 8] = {0}, act[64 * 4];
  cil_policy_rng rng;
  cil_policy_rng_seed(&rng, 1);
  CHECK(cil_policy_act(q, obs, 4, O, act, A) == 0, "act 4 rows");
  CHECK(cil_policy_act(NULL, obs, 1, O, act, A) == CIL_POLICY_EARG, "NULL policy");
  CHECK(cil_policy_act(q, NULL, 1, O, act, A) == CIL_POLICY_EARG, "NULL obs");
  CHECK(cil_policy_act(q, obs, 1, O, NULL, A) == CIL_POLICY_EARG, "NULL act");
  CHECK(cil_policy_act(q, obs, 0, O, act, A) == CIL_POLICY_EARG, "0 rows");
  CHECK(cil_policy_act(q, obs, -3, O, act, A) == CIL_POLICY_EARG, "-3 rows");
  CHECK(cil_policy_act(q, obs, 1, O + 1, act, A) == CIL_POLICY_ESIZE, "wrong obs_dim");
  CHECK(strstr(cil_policy_errmsg(), "obs_dim") != NULL, "wrong obs_dim message: %s", cil_policy_errmsg());
  CHECK(cil_policy_act(q, obs, 1, O, act, A - 1) == CIL_POLICY_ESIZE, "wrong act_dim");
  CHECK(cil_policy_act(q, obs, 5, O, act, A) == CIL_POLICY_ESIZE, "5 rows over max_batch 4");
  CHECK(cil_policy_sample(q, obs, 1, O, NULL, act, A) == CIL_POLICY_EARG, "NULL rng");
  CHECK(cil_policy_sample(q, obs, 5, O, &rng, act, A) == CIL_POLICY_ESIZE, "sample over max_batch");
  CHECK(cil_policy_reserve(q, 0) == CIL_POLICY_EARG && cil_policy_reserve(NULL, 8) == CIL_POLICY_EARG, "reserve args");
  CHECK(cil_policy_reserve(q, 64) == 0 && cil_policy_max_batch(q) == 64, "reserve 64");
  CHECK(cil_policy_act(q, obs, 64, O, act, A) == 0 && cil_policy_sample(q, obs, 64, O, &rng, act, A) == 0, "64 rows after reserve");
  CHECK(cil_policy_normalizes(q) == 1 && cil_policy_obs_dim(NULL) < 0, "accessors");
  cil_policy_free(q);
  cil_policy_free(NULL);
  for (int code = 0; code >= -7; code--) CHECK(cil_policy_strerror(code)[0] != 0, "strerror %d", code);
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmp, sizeof tmp, "%s/cil_policy_XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  srcdir = getenv("CLEANIL_SOURCE_DIR");
#ifdef CIL_MODEL_DIR
  static char guess[4096];
  if (!srcdir || !*srcdir) { /* the build's model dir is <source>/models */
    snprintf(guess, sizeof guess, "%s/..", CIL_MODEL_DIR);
    srcdir = guess;
  }
#endif
  char expert[700], p2[700], p3[700], run[700], cmd[2048];
  snprintf(expert, sizeof expert, "%s/data/hopper/expert_policy.h5", srcdir);
  /* made-up actors: statistics, odd widths (the GEMM's edge tiles and the OpenBLAS head), a head
   * that reaches the mu clamp; one with tanh hidden units, one with ReLU */
  spec s2 = {7, 2, 2, {40, 17}, 1, 12.0f, 11};
  spec s3 = {3, 1, 1, {16}, 1, 1.0f, 12};
  spec s4 = {5, 3, 3, {33, 64, 20}, 0, 3.0f, 13};
  snprintf(p2, sizeof p2, "%s/p2.h5", tmp);
  snprintf(p3, sizeof p3, "%s/p3.h5", tmp);
  snprintf(run, sizeof run, "%s/run", tmp);
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", run);
  CHECK(system(cmd) == 0, "mkdir");
  snprintf(cmd, sizeof cmd, "%s/policy.h5", run);
  CHECK(write_policy(p2, &s2, OK_FILE) && write_policy(p3, &s3, OK_FILE) && write_policy(cmd, &s4, OK_FILE),
        "writing the made-up policies: %s", cil_errmsg());

  compare_with_lua("hopper_expert", expert, "silu", CIL_POLICY_SILU, 11, 3, "256,256,256");
  compare_with_lua("made_up_silu", p2, "silu", CIL_POLICY_SILU, 7, 2, "40,17");
  compare_with_lua("made_up_tanh", p3, "tanh", CIL_POLICY_TANH, 3, 1, "16");
  compare_with_lua("made_up_relu", cmd, "relu", CIL_POLICY_RELU, 5, 3, "33,64,20");
  test_threads(expert, 11, 3);
  test_threads(p2, 7, 2);
  test_errors(p2, &s2);

  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (t_fail == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return test_summary();
}
