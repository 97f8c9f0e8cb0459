/* Tensors, the graph arena, persistent storage, errors and grad mode. */
#include "internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ errors */
static char g_err[1024];
const char *cil_errmsg(void) { return g_err[0] ? g_err : "unknown engine error"; }
void cil_seterr(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err, sizeof g_err, fmt, ap);
  va_end(ap);
}

const char *cil_shapestr(const cil_tensor *t) {
  static char buf[8][64];
  static int slot = 0;
  char *s = buf[slot];
  slot = (slot + 1) & 7;
  int n = 0;
  n += snprintf(s + n, 64 - n, "[");
  for (int d = 0; d < t->ndim; d++) n += snprintf(s + n, 64 - n, d ? ", %d" : "%d", t->shape[d]);
  snprintf(s + n, 64 - n, "]");
  return s;
}

/* ------------------------------------------------------------------ arena */
typedef struct block {
  char *mem;
  size_t used, cap;
  struct block *next;
} block;

static struct {
  block *head;               /* current block (newest first) */
  size_t total_cap;
  uint64_t gen;
  cil_tensor **kept;         /* persistent tensors retained until reset */
  int nkept, capkept;
} A = {NULL, 0, 1, NULL, 0, 0};

#define ARENA_MIN_BLOCK ((size_t)4 << 20)

static block *new_block(size_t cap) {
  block *b = malloc(sizeof *b);
  if (!b) return NULL;
  b->mem = aligned_alloc(64, cap);
  if (!b->mem) {
    free(b);
    return NULL;
  }
  b->used = 0;
  b->cap = cap;
  b->next = NULL;
  return b;
}

void *cil_arena_alloc(size_t bytes) {
  bytes = (bytes + 63) & ~(size_t)63;
  if (bytes == 0) bytes = 64;
  if (!A.head || A.head->used + bytes > A.head->cap) {
    size_t cap = A.total_cap < ARENA_MIN_BLOCK ? ARENA_MIN_BLOCK : A.total_cap;
    if (cap < bytes) cap = bytes;
    cap = (cap + 63) & ~(size_t)63;
    block *b = new_block(cap);
    if (!b) {
      cil_seterr("out of memory: the graph arena could not grow by %zu bytes", cap);
      return NULL;
    }
    b->next = A.head;
    A.head = b;
    A.total_cap += cap;
  }
  void *p = A.head->mem + A.head->used;
  A.head->used += bytes;
  return p;
}

extern void cil_tape_clear(void); /* autograd.c */

void cil_arena_reset(void) {
  cil_tape_clear();
  for (int i = 0; i < A.nkept; i++) cil_release(A.kept[i]);
  A.nkept = 0;
  /* several blocks: replace by one block of the total size, so the next update fits in one */
  if (A.head && A.head->next) {
    size_t cap = A.total_cap;
    while (A.head) {
      block *n = A.head->next;
      free(A.head->mem);
      free(A.head);
      A.head = n;
    }
    A.total_cap = 0;
    A.head = new_block(cap);
    if (A.head) A.total_cap = cap;
  } else if (A.head) {
    A.head->used = 0;
  }
  A.gen++;
}

uint64_t cil_arena_gen(void) { return A.gen; }
size_t cil_arena_bytes(void) {
  size_t s = 0;
  for (block *b = A.head; b; b = b->next) s += b->used;
  return s;
}
size_t cil_arena_capacity(void) { return A.total_cap; }

void cil_arena_keep(cil_tensor *t) {
  if (!t || !t->persistent || t->retained_gen == A.gen) return;
  if (A.nkept == A.capkept) {
    int cap = A.capkept ? 2 * A.capkept : 256;
    cil_tensor **k = realloc(A.kept, cap * sizeof *k);
    if (!k) return; /* keeping is best effort under OOM */
    A.kept = k;
    A.capkept = cap;
  }
  cil_retain(t);
  t->retained_gen = A.gen;
  A.kept[A.nkept++] = t;
}

/* ------------------------------------------------------------------ tensors */
/* "[a, b, c]" of a raw shape (static buffer: for one error message) */
static const char *shape_text(int ndim, const int *shape) {
  static char buf[96];
  int n = snprintf(buf, sizeof buf, "[");
  for (int d = 0; d < ndim && d < CIL_MAXDIM; d++) n += snprintf(buf + n, sizeof buf - n, d ? ", %d" : "%d", shape[d]);
  snprintf(buf + n, sizeof buf - n, "]");
  return buf;
}
static int fill_shape(cil_tensor *t, int ndim, const int *shape) {
  if (ndim < 0 || ndim > CIL_MAXDIM) {
    cil_seterr("tensors have 0 to %d dims, got %d", CIL_MAXDIM, ndim);
    return 0;
  }
  t->ndim = ndim;
  int64_t n = 1, nz = 1; /* nz: product of the non-zero sizes */
  for (int d = 0; d < CIL_MAXDIM; d++) {
    int s = d < ndim ? shape[d] : 1;
    if (s < 0) {
      cil_seterr("negative size %d in dim %d", s, d + 1);
      return 0;
    }
    t->shape[d] = s;
    n *= s;
    /* checked before it could wrap: each factor and the running product are at most 2^31 - 1 */
    if (s > 0) nz *= s;
    if (nz > CIL_MAXNUMEL) {
      t->shape[d] = 1;
      cil_seterr("tensor of shape %s is too large: more than %lld elements", shape_text(ndim, shape),
                 (long long)CIL_MAXNUMEL);
      return 0;
    }
  }
  t->numel = n;
  return 1;
}

cil_tensor *cil_new(int ndim, const int *shape) {
  cil_tensor tmp = {0};
  if (!fill_shape(&tmp, ndim, shape)) return NULL;
  cil_tensor *t = cil_arena_alloc(sizeof *t);
  CIL_NONNULL(t);
  *t = tmp;
  t->data = cil_arena_alloc((size_t)t->numel * sizeof(float));
  CIL_NONNULL(t->data);
  return t;
}
cil_tensor *cil_new_like(const cil_tensor *x) { return cil_new(x->ndim, x->shape); }

cil_tensor *cil_alias(cil_tensor *x, int ndim, const int *shape) {
  cil_tensor tmp = {0};
  if (!fill_shape(&tmp, ndim, shape)) return NULL;
  cil_tensor *t = cil_arena_alloc(sizeof *t);
  CIL_NONNULL(t);
  *t = tmp;
  t->data = x->data;
  cil_arena_keep(x);
  return t;
}

cil_tensor *cil_persistent(int ndim, const int *shape) {
  cil_tensor tmp = {0};
  if (!fill_shape(&tmp, ndim, shape)) return NULL;
  cil_tensor *t = malloc(sizeof *t);
  CIL_CHECK(t, "out of memory");
  *t = tmp;
  size_t bytes = ((size_t)t->numel * sizeof(float) + 63) & ~(size_t)63;
  t->data = aligned_alloc(64, bytes ? bytes : 64);
  if (!t->data) {
    free(t);
    cil_seterr("out of memory allocating %zu bytes", bytes);
    return NULL;
  }
  memset(t->data, 0, bytes);
  t->persistent = 1;
  t->refcount = 1;
  return t;
}

cil_tensor *cil_persist(const cil_tensor *x) {
  cil_tensor *t = cil_persistent(x->ndim, x->shape);
  CIL_NONNULL(t);
  memcpy(t->data, x->data, (size_t)x->numel * sizeof(float));
  return t;
}

cil_tensor *cil_persistent_view(cil_tensor *base, int64_t offset, int ndim, const int *shape) {
  cil_tensor tmp = {0};
  if (!fill_shape(&tmp, ndim, shape)) return NULL;
  CIL_CHECK(base->persistent, "persistent view of an arena tensor");
  CIL_CHECK(offset >= 0 && offset + tmp.numel <= base->numel, "persistent view out of range");
  cil_tensor *t = malloc(sizeof *t);
  CIL_CHECK(t, "out of memory");
  *t = tmp;
  t->data = base->data + offset;
  t->persistent = 1;
  t->refcount = 1;
  t->base = base;
  cil_retain(base);
  return t;
}

void cil_retain(cil_tensor *t) {
  if (t && t->persistent) t->refcount++;
}

void cil_release(cil_tensor *t) {
  if (!t || !t->persistent) return;
  if (--t->refcount > 0) return;
  if (t->grad) cil_release(t->grad);
  if (t->base)
    cil_release(t->base);
  else
    free(t->data);
  free(t);
}

int cil_shape_eq(const cil_tensor *a, const cil_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return 0;
  return 1;
}

int cil_normdim(int dim, int ndim) {
  if (dim < 0) dim += ndim;
  return (dim >= 0 && dim < ndim) ? dim : -1;
}

void cil_split_dims(const cil_tensor *x, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
  int64_t o = 1, in = 1;
  for (int d = 0; d < dim; d++) o *= x->shape[d];
  for (int d = dim + 1; d < x->ndim; d++) in *= x->shape[d];
  *outer = o;
  *n = x->shape[dim];
  *inner = in;
}

/* ------------------------------------------------------------------ grad mode */
static int g_grad_on = 1;
int cil_grad_enabled(void) { return g_grad_on; }
int cil_set_grad_enabled(int on) {
  int prev = g_grad_on;
  g_grad_on = on ? 1 : 0;
  return prev;
}

/* ------------------------------------------------------------------ creation */
cil_tensor *cil_full(int ndim, const int *shape, float v) {
  cil_tensor *t = cil_new(ndim, shape);
  CIL_NONNULL(t);
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = v;
  return t;
}
cil_tensor *cil_zeros(int ndim, const int *shape) {
  cil_tensor *t = cil_new(ndim, shape);
  CIL_NONNULL(t);
  memset(t->data, 0, (size_t)t->numel * sizeof(float));
  return t;
}
cil_tensor *cil_scalar(float v) { return cil_full(0, NULL, v); }

cil_tensor *cil_arange(double start, double stop, double step) {
  CIL_CHECK(step != 0 && isfinite(step) && isfinite(start) && isfinite(stop),
            "arange: step must be non-zero and bounds finite");
  double cnt = ceil((stop - start) / step);
  if (cnt < 0) cnt = 0;
  CIL_CHECK(cnt < 2147483647.0, "arange: too many elements");
  int n = (int)cnt;
  cil_tensor *t = cil_new(1, &n);
  CIL_NONNULL(t);
  for (int i = 0; i < n; i++) t->data[i] = (float)(start + i * step);
  return t;
}

cil_tensor *cil_from(int ndim, const int *shape, const float *src) {
  cil_tensor *t = cil_new(ndim, shape);
  CIL_NONNULL(t);
  memcpy(t->data, src, (size_t)t->numel * sizeof(float));
  return t;
}

/* ------------------------------------------------------------------ in place */
int cil_check_inplace(const cil_tensor *t, const char *op) {
  if (t->node) {
    cil_seterr("%s: cannot modify %s in place: it is the result of an op in the autograd graph "
               "(detach() or clone() it first)", op, cil_shapestr(t));
    return 0;
  }
  return 1;
}

int cil_copy_(cil_tensor *dst, const cil_tensor *src) {
  if (!cil_check_inplace(dst, "copy_")) return 0;
  if (dst->numel != src->numel) {
    cil_seterr("copy_: destination %s and source %s have different numbers of elements",
               cil_shapestr(dst), cil_shapestr(src));
    return 0;
  }
  if (dst->data != src->data) memmove(dst->data, src->data, (size_t)src->numel * sizeof(float));
  return 1;
}

int cil_fill_(cil_tensor *dst, float v) {
  if (!cil_check_inplace(dst, "fill_")) return 0;
  for (int64_t i = 0; i < dst->numel; i++) dst->data[i] = v;
  return 1;
}
