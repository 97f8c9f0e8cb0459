/* Replay buffer: a fixed-capacity ring of transitions (obs, act, rew, next_obs, done), float32.
 *
 * Rows are written at `pos`, which wraps to 0 at `capacity`; once full, each add overwrites the
 * oldest rows. Sampling is uniform with replacement over the `size` stored rows, one
 * cil_rng_below(size) draw per row, in output order (so a seeded generator gives the same batch on
 * every machine). `done` is the true termination flag (never a time limit).
 */
#ifndef CIL_BUFFER_H
#define CIL_BUFFER_H
#include <stdint.h>
#include "../core/rng.h"
#include "../core/tensor.h"

typedef struct cil_buffer {
  int64_t capacity;   /* rows of storage */
  int64_t size;       /* rows stored, <= capacity */
  int64_t pos;        /* next row to write */
  int obs_dim, act_dim;
  float *obs;         /* [capacity, obs_dim] */
  float *act;         /* [capacity, act_dim] */
  float *rew;         /* [capacity] */
  float *next_obs;    /* [capacity, obs_dim] */
  float *done;        /* [capacity], 0 or 1 */
} cil_buffer;

/* columns of a batch: obs [n, obs_dim], act [n, act_dim], rew [n, 1], next_obs [n, obs_dim],
 * done [n, 1] */
enum { CIL_B_OBS, CIL_B_ACT, CIL_B_REW, CIL_B_NEXT, CIL_B_DONE, CIL_B_NCOLS };

cil_buffer *cil_buffer_new(int64_t capacity, int obs_dim, int act_dim);
void cil_buffer_free(cil_buffer *b);
void cil_buffer_clear(cil_buffer *b);
/* append n rows (row-major arrays); rew/done may be NULL (zeros). n > capacity keeps the last
 * capacity rows. */
int cil_buffer_add(cil_buffer *b, int64_t n, const float *obs, const float *act, const float *rew,
                   const float *next_obs, const float *done);
/* n uniform draws with replacement, written into out[col] + row0 * width (preallocated) */
int cil_buffer_sample_into(const cil_buffer *b, cil_rng *r, int64_t n, float *const out[CIL_B_NCOLS],
                           int64_t row0);
/* n draws into new arena tensors out[0..4] (shapes above) */
int cil_buffer_sample(const cil_buffer *b, cil_rng *r, int n, cil_tensor *out[CIL_B_NCOLS]);
/* floor(n * ratio) rows from a, then the rest from b, concatenated in that order */
int cil_buffer_sample_mixed(const cil_buffer *a, const cil_buffer *b, cil_rng *r, int n, double ratio,
                            cil_tensor *out[CIL_B_NCOLS]);
/* copy rows [start, start+n) of storage (ring order, not age order) into new arena tensors */
int cil_buffer_rows(const cil_buffer *b, int64_t start, int n, cil_tensor *out[CIL_B_NCOLS]);
/* copy the whole content of src into dst (same dims and capacity) */
int cil_buffer_copy(cil_buffer *dst, const cil_buffer *src);

/* files: one buffer per file (written atomically, with checksums) */
int cil_buffer_save(const cil_buffer *b, const char *path);
cil_buffer *cil_buffer_load(const char *path);
#endif
