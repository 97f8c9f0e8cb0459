/* Data layer: replay buffer (ring, sampling distribution, mixing), trajectories, statistics,
 * HDF5 round trips, checkpoint integrity (payload corruption, truncation). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "data/buffer.h"
#include "data/dataset.h"
#include "data/h5io.h"

static char tmpdir[256];
static const char *tmp(const char *name) {
  static char buf[4][512];
  static int slot = 0;
  char *p = buf[slot++ & 3];
  snprintf(p, 512, "%s/%s", tmpdir, name);
  return p;
}

/* one row per transition with value v everywhere */
static void add_rows(cil_buffer *b, int n, float v0) {
  int od = b->obs_dim, ad = b->act_dim;
  float *o = malloc(sizeof(float) * n * od), *a = malloc(sizeof(float) * n * ad);
  float *r = malloc(sizeof(float) * n), *no = malloc(sizeof(float) * n * od), *d = malloc(sizeof(float) * n);
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < od; j++) {
      o[i * od + j] = v0 + i;
      no[i * od + j] = v0 + i + 0.5f;
    }
    for (int j = 0; j < ad; j++) a[i * ad + j] = -(v0 + i);
    r[i] = 2 * (v0 + i);
    d[i] = (i % 3) == 0;
  }
  cil_buffer_add(b, n, o, a, r, no, d);
  free(o);
  free(a);
  free(r);
  free(no);
  free(d);
}

static void test_ring(void) {
  cil_buffer *b = cil_buffer_new(5, 2, 1);
  CHECK(b != NULL, "buffer_new");
  add_rows(b, 3, 0);
  CHECK(b->size == 3 && b->pos == 3, "size 3 pos 3, got %lld %lld", (long long)b->size, (long long)b->pos);
  add_rows(b, 4, 3); /* values 3..6: rows 3,4 at 3,4 then 5,6 wrap to 0,1 */
  CHECK(b->size == 5 && b->pos == 2, "size 5 pos 2, got %lld %lld", (long long)b->size, (long long)b->pos);
  float want[5] = {5, 6, 2, 3, 4};
  for (int i = 0; i < 5; i++) {
    CHECK(b->obs[i * 2] == want[i] && b->obs[i * 2 + 1] == want[i], "ring row %d obs %g want %g", i, b->obs[i * 2], want[i]);
    CHECK(b->next_obs[i * 2] == want[i] + 0.5f, "ring row %d next_obs", i);
    CHECK(b->act[i] == -want[i] && b->rew[i] == 2 * want[i], "ring row %d act/rew", i);
  }
  /* one batch larger than the capacity keeps its last rows */
  add_rows(b, 12, 100); /* values 100..111; last 5 = 107..111 */
  CHECK(b->size == 5, "size stays 5");
  float seen = 0;
  for (int i = 0; i < 5; i++) seen += b->obs[i * 2];
  CHECK(seen == 107 + 108 + 109 + 110 + 111, "oversized add keeps the last rows (sum %g)", seen);
  /* same layout as adding the rows one at a time: pos was 2, +12 rows -> 4; row 111 sits at 3 */
  CHECK(b->pos == 4 && b->obs[3 * 2] == 111 && b->obs[4 * 2] == 107, "oversized add layout (pos %lld)", (long long)b->pos);
  cil_buffer_free(b);
}

static void test_sampling(void) {
  enum { K = 10, DRAWS = 200000 };
  cil_buffer *b = cil_buffer_new(K, 1, 1);
  add_rows(b, K, 0);
  cil_rng r;
  cil_rng_seed(&r, 123);
  long counts[K] = {0};
  cil_tensor *out[CIL_B_NCOLS];
  for (int it = 0; it < DRAWS / 1000; it++) {
    CHECK(cil_buffer_sample(b, &r, 1000, out), "sample");
    for (int i = 0; i < 1000; i++) {
      int v = (int)out[CIL_B_OBS]->data[i];
      if (v >= 0 && v < K) counts[v]++;
      /* columns stay aligned */
      if (out[CIL_B_NEXT]->data[i] != v + 0.5f || out[CIL_B_REW]->data[i] != 2.0f * v ||
          out[CIL_B_ACT]->data[i] != -v || out[CIL_B_DONE]->data[i] != (float)((v % 3) == 0))
        t_fail++;
    }
    cil_arena_reset();
  }
  double chi = 0, e = (double)DRAWS / K;
  for (int k = 0; k < K; k++) chi += (counts[k] - e) * (counts[k] - e) / e;
  /* 9 degrees of freedom: P(chi2 > 27.88) = 0.001 */
  CHECK(chi < 27.88, "uniform sampling: chi-square %.2f over 9 dof", chi);
  CHECK(out[CIL_B_REW]->ndim == 2 && out[CIL_B_REW]->shape[1] == 1, "rew is [n, 1]");

  /* same seed, same batch */
  cil_rng r1, r2;
  cil_rng_seed(&r1, 9);
  cil_rng_seed(&r2, 9);
  cil_tensor *o1[CIL_B_NCOLS], *o2[CIL_B_NCOLS];
  cil_buffer_sample(b, &r1, 64, o1);
  cil_buffer_sample(b, &r2, 64, o2);
  CHECK(!memcmp(o1[0]->data, o2[0]->data, 64 * sizeof(float)), "seeded sampling is reproducible");
  cil_arena_reset();

  cil_buffer *empty = cil_buffer_new(4, 1, 1);
  CHECK(!cil_buffer_sample(empty, &r, 3, out) && strstr(cil_errmsg(), "empty"), "empty buffer: %s", cil_errmsg());
  cil_buffer_free(empty);
  cil_buffer_free(b);
}

static void test_mixed(void) {
  cil_buffer *a = cil_buffer_new(100, 2, 1), *b = cil_buffer_new(100, 2, 1);
  add_rows(a, 50, 0);      /* values 0..49 */
  add_rows(b, 50, 1000);   /* values 1000..1049 */
  cil_rng r;
  cil_rng_seed(&r, 5);
  double ratios[] = {0.5, 0.05, 0.0, 1.0};
  for (int k = 0; k < 4; k++) {
    cil_tensor *out[CIL_B_NCOLS];
    CHECK(cil_buffer_sample_mixed(a, b, &r, 256, ratios[k], out), "sample_mixed");
    int na = (int)(256 * ratios[k] + 1e-9), from_a = 0, ordered = 1;
    for (int i = 0; i < 256; i++) {
      int is_a = out[CIL_B_OBS]->data[i * 2] < 1000;
      from_a += is_a;
      if (is_a != (i < na)) ordered = 0;
    }
    CHECK(from_a == na && ordered, "ratio %g: %d rows from A (want %d, first)", ratios[k], from_a, na);
    cil_arena_reset();
  }
  cil_tensor *out[CIL_B_NCOLS];
  CHECK(!cil_buffer_sample_mixed(a, b, &r, 10, 1.5, out), "ratio > 1 refused");
  cil_buffer *c = cil_buffer_new(10, 3, 1);
  CHECK(!cil_buffer_sample_mixed(a, c, &r, 10, 0.5, out) && strstr(cil_errmsg(), "differ"), "shape mismatch: %s", cil_errmsg());
  cil_buffer_free(a);
  cil_buffer_free(b);
  cil_buffer_free(c);
}

static void test_trajectories(void) {
  /* rows:      0 1 2 3 | 4 5 | 6 7 8 | 9 10 | 11 12 (tail) */
  float term[13] = {0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0};
  float tout[13] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0};
  float rew[13];
  for (int i = 0; i < 13; i++) rew[i] = (float)i;
  int64_t k;
  cil_traj *t = cil_trajectories(term, tout, rew, 13, &k);
  CHECK(k == 5, "5 trajectories, got %lld", (long long)k);
  int64_t st[5] = {0, 4, 6, 9, 11}, ln[5] = {4, 2, 3, 2, 2};
  for (int i = 0; i < 5 && i < k; i++) CHECK(t[i].start == st[i] && t[i].len == ln[i], "traj %d range", i);
  CHECK(t[0].terminal && !t[0].timeout && t[1].timeout && !t[1].terminal && !t[4].complete, "flags");
  CHECK(t[0].ret == 0 + 1 + 2 + 3 && t[4].ret == 11 + 12, "returns");
  int64_t ch[5];
  int64_t n = cil_pick_trajectories(t, k, 5, CIL_PICK_REFERENCE, ch);
  /* E0 kept (first), E1 skipped (E0 terminated), E2 kept, E3 skipped (E2 terminated), tail never */
  CHECK(n == 2 && ch[0] == 0 && ch[1] == 2, "reference rule picks 0,2 (got %lld)", (long long)n);
  n = cil_pick_trajectories(t, k, 5, CIL_PICK_FIRST, ch);
  CHECK(n == 4 && ch[3] == 3, "first rule takes the 4 complete episodes");
  n = cil_pick_trajectories(t, k, 1, CIL_PICK_FIRST, ch);
  CHECK(n == 1 && ch[0] == 0, "first rule, n = 1");
  n = cil_pick_trajectories(t, k, 5, CIL_PICK_NOT_TERMINATED, ch);
  CHECK(n == 2 && ch[0] == 1 && ch[1] == 3, "not_terminated picks 1,3");
  free(t);
  /* a file ending exactly on a flag has no tail */
  float term2[3] = {0, 0, 1};
  t = cil_trajectories(term2, NULL, NULL, 3, &k);
  CHECK(k == 1 && t[0].complete, "no tail after a final flag");
  free(t);
}

static void test_stats(void) {
  int s[2] = {4, 2};
  cil_tensor *x = cil_persistent(2, s);
  float v[8] = {1, 10, 2, 20, 3, 30, 4, 40};
  memcpy(x->data, v, sizeof v);
  cil_tensor *m, *sd;
  CHECK(cil_obs_stats(&x, 1, 0.0, &m, &sd), "obs_stats");
  CHECK_NEAR(m->data[0], 2.5, 1e-6, "mean 0");
  CHECK_NEAR(m->data[1], 25, 1e-5, "mean 1");
  CHECK_NEAR(sd->data[0], 1.2909944, 1e-6, "unbiased std 0"); /* sqrt(5/3) */
  CHECK_NEAR(sd->data[1], 12.909944, 1e-5, "unbiased std 1");
  cil_tensor *z = cil_normalize(x, m, sd, 0), *back = cil_normalize(z, m, sd, 1);
  CHECK_NEAR(z->data[0], (1 - 2.5) / 1.2909944, 1e-5, "normalize");
  for (int i = 0; i < 8; i++) CHECK_NEAR(back->data[i], v[i], 1e-5, "denormalize");
  cil_tensor *m2, *s2;
  CHECK(cil_obs_stats(&x, 1, 0.5, &m2, &s2) && fabsf(s2->data[0] - sd->data[0] - 0.5f) < 1e-6, "eps added to std");
  CHECK(cil_eval_size(20, 0.9, 1000) == 2 && cil_eval_size(14, 0.9, 1000) == 1 && cil_eval_size(16, 0.9, 1000) == 2 &&
        cil_eval_size(1000000, 0.9, 1000) == 1000, "eval sizes");
  int64_t idx[3] = {3, 0, 3};
  cil_tensor *tk = cil_take_rows(x, idx, 3);
  CHECK(tk && tk->shape[0] == 3 && tk->data[0] == 4 && tk->data[2] == 1 && tk->data[5] == 40, "take rows");
  int64_t bad = 7;
  CHECK(!cil_take_rows(x, &bad, 1) && strstr(cil_errmsg(), "out of range"), "take out of range");
  cil_tensor *all[] = {x, m, sd, z, back, m2, s2, tk};
  for (int i = 0; i < 8; i++) cil_release(all[i]);
}

static void test_d4rl_roundtrip(void) {
  enum { N = 1000, OD = 5, AD = 2 };
  cil_dataset d = {0};
  int so[2] = {N, OD}, sa[2] = {N, AD}, s1[1] = {N};
  d.observations = cil_persistent(2, so);
  d.next_observations = cil_persistent(2, so);
  d.actions = cil_persistent(2, sa);
  d.rewards = cil_persistent(1, s1);
  d.terminals = cil_persistent(1, s1);
  d.timeouts = cil_persistent(1, s1);
  cil_rng r;
  cil_rng_seed(&r, 1);
  cil_rng_fill_normal(&r, d.observations->data, N * OD, 0, 1);
  cil_rng_fill_normal(&r, d.next_observations->data, N * OD, 0, 1);
  cil_rng_fill_normal(&r, d.actions->data, N * AD, 0, 1);
  cil_rng_fill_normal(&r, d.rewards->data, N, 0, 1);
  for (int i = 0; i < N; i++) {
    d.terminals->data[i] = i % 97 == 96;
    d.timeouts->data[i] = i % 200 == 199 && i % 97 != 96;
  }
  const char *p = tmp("rt.hdf5");
  cil_h5w *w = cil_h5w_create(p, 0);
  CHECK(w && cil_d4rl_write(w, &d, 4) && cil_h5w_commit(w), "write d4rl: %s", cil_errmsg());
  CHECK(access(tmp("rt.hdf5.tmp"), F_OK) != 0, "no temporary left");
  cil_dataset e;
  CHECK(cil_d4rl_load(p, 1, &e), "load d4rl: %s", cil_errmsg());
  CHECK(e.n == N && e.obs_dim == OD && e.act_dim == AD && !e.next_known, "dims");
  CHECK(!memcmp(e.observations->data, d.observations->data, sizeof(float) * N * OD), "observations equal");
  CHECK(!memcmp(e.next_observations->data, d.next_observations->data, sizeof(float) * N * OD), "next equal");
  CHECK(!memcmp(e.actions->data, d.actions->data, sizeof(float) * N * AD), "actions equal");
  CHECK(!memcmp(e.rewards->data, d.rewards->data, sizeof(float) * N), "rewards equal");
  CHECK(!memcmp(e.terminals->data, d.terminals->data, sizeof(float) * N), "terminals equal");
  CHECK(!memcmp(e.timeouts->data, d.timeouts->data, sizeof(float) * N), "timeouts equal");
  cil_dataset_release(&e);
  cil_dataset_release(&d);
}

/* find `pat` in a file, return offset or -1 */
static long find_in_file(const char *path, const void *pat, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)sz);
  long off = -1;
  if (fread(buf, 1, (size_t)sz, f) == (size_t)sz)
    for (long i = 0; i + (long)n <= sz; i++)
      if (!memcmp(buf + i, pat, n)) {
        off = i;
        break;
      }
  free(buf);
  fclose(f);
  return off;
}

static void test_checkpoint_integrity(void) {
  int s[2] = {64, 16};
  cil_tensor *t = cil_persistent(2, s);
  for (int i = 0; i < 64 * 16; i++) t->data[i] = 1000.0f + i;
  cil_buffer *b = cil_buffer_new(8, 3, 2);
  add_rows(b, 11, 0);
  const char *p = tmp("ck.h5");
  cil_h5w *w = cil_h5w_create(p, 1);
  CHECK(w && cil_h5w_group(w, "model", "table") && cil_h5w_tensor(w, "model/w", t, 0) &&
        cil_h5w_int(w, "step", 77, NULL) && cil_h5w_buffer(w, "replay", b) && cil_h5w_commit(w),
        "write checkpoint: %s", cil_errmsg());
  cil_h5node *root = cil_h5_read_tree(p, "/", 1);
  CHECK(root != NULL, "read checkpoint: %s", cil_errmsg());
  if (root) {
    const cil_h5node *m = cil_h5_find(root, "model"), *wn = cil_h5_find(m, "w");
    CHECK(wn && wn->type == CIL_H5_TENSOR && !memcmp(wn->tensor->data, t->data, 64 * 16 * 4), "tensor back");
    const cil_h5node *st = cil_h5_find(root, "step");
    CHECK(st && st->type == CIL_H5_INT && st->i == 77, "int back");
    const cil_h5node *rb = cil_h5_find(root, "replay");
    CHECK(rb && rb->type == CIL_H5_BUFFER && rb->buffer->size == 8 && rb->buffer->pos == 3 &&
          !memcmp(rb->buffer->obs, b->obs, 8 * 3 * 4), "buffer back");
    cil_h5_free_tree(root);
  }
  /* flip one payload byte: HDF5 does not notice, the checksum does */
  float probe[4] = {1000.0f + 100, 1000.0f + 101, 1000.0f + 102, 1000.0f + 103};
  long off = find_in_file(p, probe, sizeof probe);
  CHECK(off > 0, "payload found in file");
  if (off > 0) {
    FILE *f = fopen(p, "r+b");
    fseek(f, off + 5, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off + 5, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
    root = cil_h5_read_tree(p, "/", 1);
    CHECK(!root && strstr(cil_errmsg(), "checksum mismatch") && strstr(cil_errmsg(), "model/w") &&
          strstr(cil_errmsg(), p), "corruption detected: %s", cil_errmsg());
    cil_h5_free_tree(root);
  }
  /* a truncated file */
  CHECK(cil_buffer_save(b, p), "buffer save: %s", cil_errmsg());
  cil_buffer *b2 = cil_buffer_load(p);
  CHECK(b2 && b2->size == b->size && b2->pos == b->pos && !memcmp(b2->rew, b->rew, 8 * 4), "buffer file round trip");
  cil_buffer_free(b2);
  FILE *f = fopen(p, "r+b");
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fclose(f);
  CHECK(truncate(p, sz / 2) == 0, "truncate");
  b2 = cil_buffer_load(p);
  CHECK(!b2 && strstr(cil_errmsg(), p), "truncated file refused with its name: %s", cil_errmsg());
  cil_buffer_free(b2);
  /* not a checkpoint */
  CHECK(!cil_h5_read_tree(tmp("rt.hdf5"), "/", 1) && strstr(cil_errmsg(), "not a cleanil checkpoint"),
        "plain file is not a checkpoint: %s", cil_errmsg());
  /* hashing sees every byte */
  unsigned char bytes[100] = {0};
  uint64_t h0 = cil_hash64(bytes, 100, 0);
  int all = 1;
  for (int i = 0; i < 100; i++) {
    bytes[i] ^= 1;
    if (cil_hash64(bytes, 100, 0) == h0) all = 0;
    bytes[i] ^= 1;
  }
  CHECK(all && cil_hash64(bytes, 99, 0) != h0, "hash depends on every byte and the length");
  cil_release(t);
  cil_buffer_free(b);
}

/* a buffer filled the way the online loop fills it (next_obs = the following obs, but at episode
 * ends) saves next_obs compactly and loads back bit for bit: partly filled, wrapped around, and
 * with no link at all; a checkpoint with the full next_obs column (older files) still loads */
static int same_buffer(const cil_buffer *a, const cil_buffer *b) {
  size_t o = (size_t)a->size * a->obs_dim * 4, ac = (size_t)a->size * a->act_dim * 4, r = (size_t)a->size * 4;
  return b && a->size == b->size && a->pos == b->pos && a->capacity == b->capacity && !memcmp(a->obs, b->obs, o) &&
         !memcmp(a->next_obs, b->next_obs, o) && !memcmp(a->act, b->act, ac) && !memcmp(a->rew, b->rew, r) &&
         !memcmp(a->done, b->done, r);
}
static void test_buffer_compact(void) {
  enum { OD = 3, AD = 2 };
  const char *p = tmp("compact.h5");
  int64_t fills[3] = {37, 50, 129}; /* partly filled, exactly full, wrapped around */
  for (int c = 0; c < 3; c++) {
    cil_buffer *b = cil_buffer_new(50, OD, AD);
    float o[OD] = {0.5f, -1, 2}, a[AD], n[OD], r, d;
    for (int64_t t = 0; t < fills[c]; t++) {
      for (int j = 0; j < OD; j++) n[j] = o[j] + 0.25f * (float)(j + 1) + (float)t * 1e-3f;
      for (int j = 0; j < AD; j++) a[j] = (float)(t % 7) - j;
      r = (float)t, d = (t % 11 == 10);
      cil_buffer_add(b, 1, o, a, &r, n, &d);
      if (t % 11 == 10 || t % 13 == 12) /* episode ends: a reset obs follows */
        for (int j = 0; j < OD; j++) o[j] = -(float)t - j;
      else
        memcpy(o, n, sizeof o);
    }
    CHECK(cil_buffer_save(b, p), "save: %s", cil_errmsg());
    cil_buffer *b2 = cil_buffer_load(p);
    CHECK(same_buffer(b, b2), "compact next_obs round trip, %lld rows added: %s", (long long)fills[c],
          b2 ? "columns differ" : cil_errmsg());
    cil_buffer_free(b2);
    /* nothing linked: every next_obs stored */
    for (int64_t i = 0; i < b->size * OD; i++) b->next_obs[i] = (float)i * 0.1f - 3;
    b2 = NULL;
    CHECK(cil_buffer_save(b, p) && same_buffer(b, b2 = cil_buffer_load(p)), "unlinked rows round trip");
    cil_buffer_free(b2);
    cil_buffer_free(b);
  }
  /* an older checkpoint: the whole next_obs column, written as the first format did */
  cil_buffer *b = cil_buffer_new(20, OD, AD);
  float o[OD * 15], a[AD * 15], nx[OD * 15];
  for (int i = 0; i < OD * 15; i++) o[i] = (float)i, nx[i] = (float)i + 100;
  for (int i = 0; i < AD * 15; i++) a[i] = (float)-i;
  cil_buffer_add(b, 15, o, a, NULL, nx, NULL);
  cil_h5w *w = cil_h5w_create(p, 1);
  int64_t so[2] = {15, OD}, sa[2] = {15, AD}, s1[1] = {15};
  int ok = w && cil_h5w_group(w, "buffer", "buffer");
  const char *an[5] = {"capacity", "size", "pos", "obs_dim", "act_dim"};
  int64_t av[5] = {20, 15, 15, OD, AD};
  for (int i = 0; i < 5; i++) ok = ok && cil_h5w_attr_int(w, "buffer", an[i], av[i]);
  ok = ok && cil_h5w_floats(w, "buffer/obs", b->obs, 2, so, 0, "column") &&
       cil_h5w_floats(w, "buffer/act", b->act, 2, sa, 0, "column") &&
       cil_h5w_floats(w, "buffer/rew", b->rew, 1, s1, 0, "column") &&
       cil_h5w_floats(w, "buffer/next_obs", b->next_obs, 2, so, 0, "column") &&
       cil_h5w_floats(w, "buffer/done", b->done, 1, s1, 0, "column") && cil_h5w_commit(w);
  CHECK(ok, "write an old-format buffer: %s", cil_errmsg());
  { /* format 1: no cil_format attribute on the root (and no cil_meta attributes) */
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Adelete(f, "cil_format") >= 0, "mark the file as format 1");
    if (f >= 0) H5Fclose(f);
  }
  cil_buffer *b2 = cil_buffer_load(p);
  CHECK(same_buffer(b, b2), "old-format buffer loads: %s", b2 ? "columns differ" : cil_errmsg());
  cil_buffer_free(b2);
  cil_buffer_free(b);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/cil_test_data_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_ring();
  test_sampling();
  test_mixed();
  test_trajectories();
  test_stats();
  test_d4rl_roundtrip();
  test_checkpoint_integrity();
  test_buffer_compact();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return test_summary();
}
