/* Replay buffer: ring storage, batched add, seeded uniform sampling, mixing two sources. */
#define _DEFAULT_SOURCE
#include "buffer.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Zeroed storage. Large columns are 2 MB aligned and asked for transparent huge pages: random row
 * reads then miss the TLB far less often (sampling from a 1M-row buffer is bound by memory latency). */
static void *zalloc(size_t bytes) {
  const size_t huge = (size_t)2 << 20;
  size_t align = bytes >= 2 * huge ? huge : 64;
  size_t sz = bytes ? (bytes + align - 1) & ~(align - 1) : 64;
  void *p = aligned_alloc(align, sz);
  if (!p) return NULL;
#ifdef MADV_HUGEPAGE
  if (align == huge) madvise(p, sz, MADV_HUGEPAGE); /* advice only; failure is harmless */
#endif
  memset(p, 0, bytes);
  return p;
}

cil_buffer *cil_buffer_new(int64_t capacity, int obs_dim, int act_dim) {
  if (capacity < 1 || capacity > ((int64_t)1 << 31) - 1) {
    cil_seterr("replay buffer: capacity must be in 1..2^31-1, got %lld", (long long)capacity);
    return NULL;
  }
  if (obs_dim < 1 || act_dim < 1 || obs_dim > 1 << 20 || act_dim > 1 << 20) {
    cil_seterr("replay buffer: obs_dim and act_dim must be positive, got %d and %d", obs_dim, act_dim);
    return NULL;
  }
  cil_buffer *b = calloc(1, sizeof *b);
  if (!b) goto oom;
  b->capacity = capacity;
  b->obs_dim = obs_dim;
  b->act_dim = act_dim;
  size_t c = (size_t)capacity;
  b->obs = zalloc(c * obs_dim * sizeof(float));
  b->act = zalloc(c * act_dim * sizeof(float));
  b->rew = zalloc(c * sizeof(float));
  b->next_obs = zalloc(c * obs_dim * sizeof(float));
  b->done = zalloc(c * sizeof(float));
  if (b->obs && b->act && b->rew && b->next_obs && b->done) return b;
  cil_buffer_free(b);
oom:
  cil_seterr("replay buffer: out of memory for %lld rows of %d + %d columns", (long long)capacity,
             obs_dim, act_dim);
  return NULL;
}

void cil_buffer_free(cil_buffer *b) {
  if (!b) return;
  free(b->obs);
  free(b->act);
  free(b->rew);
  free(b->next_obs);
  free(b->done);
  free(b);
}

void cil_buffer_clear(cil_buffer *b) { b->size = b->pos = 0; }

int cil_buffer_add(cil_buffer *b, int64_t n, const float *obs, const float *act, const float *rew,
                   const float *next_obs, const float *done) {
  if (n < 0) {
    cil_seterr("replay buffer add: negative row count");
    return 0;
  }
  /* rows that would be overwritten within this call are skipped, but pos advances over them so
   * the layout equals that of adding the rows one at a time */
  int64_t skip = n > b->capacity ? n - b->capacity : 0;
  b->pos = (b->pos + skip) % b->capacity;
  int od = b->obs_dim, ad = b->act_dim;
  for (int64_t i = skip; i < n;) {
    int64_t run = n - i, room = b->capacity - b->pos; /* contiguous run up to the ring's end */
    if (run > room) run = room;
    int64_t p = b->pos;
    memcpy(b->obs + p * od, obs + i * od, (size_t)(run * od) * sizeof(float));
    memcpy(b->act + p * ad, act + i * ad, (size_t)(run * ad) * sizeof(float));
    memcpy(b->next_obs + p * od, next_obs + i * od, (size_t)(run * od) * sizeof(float));
    for (int64_t k = 0; k < run; k++) {
      b->rew[p + k] = rew ? rew[i + k] : 0.0f;
      b->done[p + k] = done ? (done[i + k] != 0.0f ? 1.0f : 0.0f) : 0.0f;
    }
    b->pos = (p + run) % b->capacity;
    b->size = b->size + run > b->capacity ? b->capacity : b->size + run;
    i += run;
  }
  return 1;
}

/* copy one stored row j into output row i */
static inline void put_row(const cil_buffer *b, int64_t j, float *const out[CIL_B_NCOLS], int64_t i) {
  int od = b->obs_dim, ad = b->act_dim;
  memcpy(out[CIL_B_OBS] + i * od, b->obs + j * od, (size_t)od * sizeof(float));
  memcpy(out[CIL_B_ACT] + i * ad, b->act + j * ad, (size_t)ad * sizeof(float));
  out[CIL_B_REW][i] = b->rew[j];
  memcpy(out[CIL_B_NEXT] + i * od, b->next_obs + j * od, (size_t)od * sizeof(float));
  out[CIL_B_DONE][i] = b->done[j];
}

/* gather rows idx[0..n) of a [*, w] column into dst, prefetching a few rows ahead so several
 * cache misses are in flight at once */
static void gather(float *restrict dst, const float *restrict src, const int64_t *idx, int n, int w) {
  enum { AHEAD = 8 };
  for (int i = 0; i < n && i < AHEAD; i++) __builtin_prefetch(src + idx[i] * w);
  if (w == 1) {
    for (int i = 0; i < n; i++) {
      if (i + AHEAD < n) __builtin_prefetch(src + idx[i + AHEAD]);
      dst[i] = src[idx[i]];
    }
    return;
  }
  for (int i = 0; i < n; i++) {
    if (i + AHEAD < n) {
      const float *p = src + idx[i + AHEAD] * w;
      __builtin_prefetch(p);
      __builtin_prefetch(p + w - 1); /* a row may straddle two cache lines */
    }
    const float *s = src + idx[i] * w;
    float *d = dst + (int64_t)i * w;
    for (int k = 0; k < w; k++) d[k] = s[k];
  }
}

int cil_buffer_sample_into(const cil_buffer *b, cil_rng *r, int64_t n, float *const out[CIL_B_NCOLS],
                           int64_t row0) {
  if (b->size == 0 && n > 0) {
    cil_seterr("replay buffer sample: the buffer is empty");
    return 0;
  }
  /* draw the indices of a chunk first (in output order, so the stream is the same as one draw per
   * row), then gather column by column */
  enum { CHUNK = 512 };
  int64_t idx[CHUNK];
  int od = b->obs_dim, ad = b->act_dim;
  for (int64_t c0 = 0; c0 < n; c0 += CHUNK) {
    int m = (int)(n - c0 < CHUNK ? n - c0 : CHUNK);
    for (int i = 0; i < m; i++) idx[i] = (int64_t)cil_rng_below(r, (uint64_t)b->size);
    int64_t o = row0 + c0;
    gather(out[CIL_B_OBS] + o * od, b->obs, idx, m, od);
    gather(out[CIL_B_ACT] + o * ad, b->act, idx, m, ad);
    gather(out[CIL_B_REW] + o, b->rew, idx, m, 1);
    gather(out[CIL_B_NEXT] + o * od, b->next_obs, idx, m, od);
    gather(out[CIL_B_DONE] + o, b->done, idx, m, 1);
  }
  return 1;
}

static int alloc_batch(int n, int od, int ad, cil_tensor *out[CIL_B_NCOLS]) {
  int so[2] = {n, od}, sa[2] = {n, ad}, s1[2] = {n, 1};
  out[CIL_B_OBS] = cil_new(2, so);
  out[CIL_B_ACT] = cil_new(2, sa);
  out[CIL_B_REW] = cil_new(2, s1);
  out[CIL_B_NEXT] = cil_new(2, so);
  out[CIL_B_DONE] = cil_new(2, s1);
  for (int c = 0; c < CIL_B_NCOLS; c++)
    if (!out[c]) return 0;
  return 1;
}

int cil_buffer_sample(const cil_buffer *b, cil_rng *r, int n, cil_tensor *out[CIL_B_NCOLS]) {
  if (n < 0) {
    cil_seterr("replay buffer sample: batch size must be >= 0, got %d", n);
    return 0;
  }
  if (!alloc_batch(n, b->obs_dim, b->act_dim, out)) return 0;
  float *p[CIL_B_NCOLS];
  for (int c = 0; c < CIL_B_NCOLS; c++) p[c] = out[c]->data;
  return cil_buffer_sample_into(b, r, n, p, 0);
}

int cil_buffer_sample_mixed(const cil_buffer *a, const cil_buffer *b, cil_rng *r, int n, double ratio,
                            cil_tensor *out[CIL_B_NCOLS]) {
  if (!(ratio >= 0.0 && ratio <= 1.0)) {
    cil_seterr("sample_mixed: ratio must be in [0, 1], got %g", ratio);
    return 0;
  }
  if (n < 0) {
    cil_seterr("sample_mixed: batch size must be >= 0, got %d", n);
    return 0;
  }
  if (a->obs_dim != b->obs_dim || a->act_dim != b->act_dim) {
    cil_seterr("sample_mixed: buffers differ in shape (obs %d vs %d, act %d vs %d)", a->obs_dim,
               b->obs_dim, a->act_dim, b->act_dim);
    return 0;
  }
  int na = (int)floor(n * ratio + 1e-9), nb = n - na;
  if (na > 0 && a->size == 0) {
    cil_seterr("sample_mixed: the first buffer is empty but ratio %g asks %d rows from it", ratio, na);
    return 0;
  }
  if (nb > 0 && b->size == 0) {
    cil_seterr("sample_mixed: the second buffer is empty but ratio %g asks %d rows from it", ratio, nb);
    return 0;
  }
  if (!alloc_batch(n, a->obs_dim, a->act_dim, out)) return 0;
  float *p[CIL_B_NCOLS];
  for (int c = 0; c < CIL_B_NCOLS; c++) p[c] = out[c]->data;
  return cil_buffer_sample_into(a, r, na, p, 0) && cil_buffer_sample_into(b, r, nb, p, na);
}

int cil_buffer_rows(const cil_buffer *b, int64_t start, int n, cil_tensor *out[CIL_B_NCOLS]) {
  if (start < 0 || n < 0 || start + n > b->size) {
    cil_seterr("replay buffer rows: range %lld..%lld is outside the %lld stored rows",
               (long long)start + 1, (long long)(start + n), (long long)b->size);
    return 0;
  }
  if (!alloc_batch(n, b->obs_dim, b->act_dim, out)) return 0;
  float *p[CIL_B_NCOLS];
  for (int c = 0; c < CIL_B_NCOLS; c++) p[c] = out[c]->data;
  for (int i = 0; i < n; i++) put_row(b, start + i, p, i);
  return 1;
}

int cil_buffer_copy(cil_buffer *dst, const cil_buffer *src) {
  if (dst->obs_dim != src->obs_dim || dst->act_dim != src->act_dim || dst->capacity != src->capacity) {
    cil_seterr("replay buffer: cannot copy a buffer of capacity %lld (obs %d, act %d) into one of "
               "capacity %lld (obs %d, act %d)", (long long)src->capacity, src->obs_dim, src->act_dim,
               (long long)dst->capacity, dst->obs_dim, dst->act_dim);
    return 0;
  }
  size_t n = (size_t)src->size;
  memcpy(dst->obs, src->obs, n * src->obs_dim * sizeof(float));
  memcpy(dst->act, src->act, n * src->act_dim * sizeof(float));
  memcpy(dst->rew, src->rew, n * sizeof(float));
  memcpy(dst->next_obs, src->next_obs, n * src->obs_dim * sizeof(float));
  memcpy(dst->done, src->done, n * sizeof(float));
  dst->size = src->size;
  dst->pos = src->pos;
  return 1;
}
