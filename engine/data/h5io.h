/* HDF5 files for cleanil: a streaming writer that commits atomically, and a reader that loads a group
 * into a tree of nodes. Used by the D4RL loader/saver, replay-buffer files and checkpoints.
 *
 * Writer  cil_h5w_create(path, checkpoint) writes into "<path>.tmp-<pid>" in the same directory;
 *         cil_h5w_commit() closes it, fsyncs it, renames it over <path> and fsyncs the directory, so
 *         a crash at any moment leaves either the old file or the new one, never a mix.
 *         In checkpoint mode every object gets a "cil_kind" attribute, every dataset a "cil_hash"
 *         attribute (64-bit hash of its payload bytes), and the root a "cil_checksum" (order-free
 *         combination of all dataset paths and hashes) and "cil_count" (number of datasets); format 2
 *         adds "cil_meta" (hash of kind and shape; of the size attributes for a buffer), checked before
 *         anything is allocated. The file is built in memory and written with plain write(), so a full
 *         disk is reported as such (ENOSPC) and leaves the previous file in place.
 * Reader  cil_h5_read_tree(path, group, checkpoint) reads every dataset under `group` into memory.
 *         Numbers become float32 persistent tensors (any integer/bool/float dtype; 0-d scalars
 *         become numbers), strings become byte strings. In checkpoint mode the "cil_kind" attributes
 *         decide the node types, and every hash plus the root checksum is verified.
 * Paths inside a file are '/'-separated, relative to the root, e.g. "infos/qpos".
 * All functions set cil_errmsg() and return 0/NULL on failure; HDF5's own error printing is off.
 */
#ifndef CIL_H5IO_H
#define CIL_H5IO_H
#include <stddef.h>
#include <stdint.h>
#include "../core/tensor.h"
#include "buffer.h"

/* 64-bit hash of a byte string (4-lane multiply-rotate; stable across runs and machines) */
uint64_t cil_hash64(const void *data, size_t len, uint64_t seed);

/* ---- writer ---- */
typedef struct cil_h5w cil_h5w;
cil_h5w *cil_h5w_create(const char *path, int checkpoint);
/* create a group (intermediate groups are created too); kind is stored in checkpoint mode */
int cil_h5w_group(cil_h5w *w, const char *path, const char *kind);
/* float32 dataset with t's shape (0-d = scalar). gzip 1..9 = chunked + compressed, 0 = contiguous */
int cil_h5w_tensor(cil_h5w *w, const char *path, const cil_tensor *t, int gzip);
/* same from a raw float array with an explicit shape (ndim <= 4) */
int cil_h5w_floats(cil_h5w *w, const char *path, const float *data, int ndim, const int64_t *shape,
                   int gzip, const char *kind);
/* h5py-compatible bool dataset (enum int8 FALSE=0/TRUE=1), values = (src[i] != 0), shape [n] */
int cil_h5w_flags(cil_h5w *w, const char *path, const float *src, int64_t n, int gzip);
int cil_h5w_int(cil_h5w *w, const char *path, int64_t v, const char *kind);
int cil_h5w_double(cil_h5w *w, const char *path, double v);
int cil_h5w_bool(cil_h5w *w, const char *path, int v);
/* checkpoint mode: uint8 dataset holding the bytes (kind "string", "generator", ...);
 * plain mode: a fixed-length string scalar, as h5py writes `bytes` */
int cil_h5w_bytes(cil_h5w *w, const char *path, const void *data, size_t len, const char *kind);
/* integer attribute on an existing object */
int cil_h5w_attr_int(cil_h5w *w, const char *path, const char *name, int64_t v);
/* a replay buffer as a group (kind "buffer"): attributes capacity/size/pos/obs_dim/act_dim and
 * columns obs, act, rew, next_obs, done holding the `size` stored rows in storage order */
int cil_h5w_buffer(cil_h5w *w, const char *path, const cil_buffer *b);
int cil_h5w_commit(cil_h5w *w);   /* frees w; on failure the old file is untouched */
void cil_h5w_abort(cil_h5w *w);   /* frees w and removes the temporary file */

/* ---- reader ---- */
typedef enum {
  CIL_H5_GROUP, CIL_H5_TENSOR, CIL_H5_INT, CIL_H5_FLOAT, CIL_H5_BOOL, CIL_H5_BYTES, CIL_H5_BUFFER
} cil_h5type;

typedef struct cil_h5node {
  char *name;                 /* link name (not decoded) */
  cil_h5type type;
  char kind[24];              /* checkpoint mode: the cil_kind attribute ("table", "string", ...) */
  cil_tensor *tensor;         /* TENSOR: persistent float32, owned by the node */
  int requires_grad;          /* TENSOR in checkpoint mode: the stored flag */
  int64_t i;                  /* INT, BOOL */
  double f;                   /* FLOAT */
  char *bytes;                /* BYTES: malloc'd, NUL-terminated for convenience */
  size_t len;
  cil_buffer *buffer;         /* BUFFER (checkpoint mode): owned by the node until taken */
  struct cil_h5node *child;   /* GROUP: first member (sorted by name) */
  struct cil_h5node *next;    /* next sibling */
} cil_h5node;

cil_h5node *cil_h5_read_tree(const char *path, const char *group, int checkpoint);
/* recompute every checksum of a checkpoint in place (tests of damaged files; deliberate edits) */
int cil_h5_reseal(const char *path);
void cil_h5_free_tree(cil_h5node *n);
const cil_h5node *cil_h5_find(const cil_h5node *group, const char *name);

/* walk a file in a forked child first (h5vet.c): 0 with the error set if libhdf5 crashes or hangs on
 * it there, 1 otherwise (also when it cannot be checked); called by cil_h5r_open and cil_h5_reseal */
int cil_h5_vet(const char *path);

/* ---- used by the dataset loaders (opaque handle on an open file) ---- */
typedef struct cil_h5r cil_h5r;
cil_h5r *cil_h5r_open(const char *path);
void cil_h5r_close(cil_h5r *r);
const char *cil_h5r_path(const cil_h5r *r);
int cil_h5r_exists(cil_h5r *r, const char *path);        /* 1 if a dataset or group is there */
int cil_h5r_is_group(cil_h5r *r, const char *path);
/* shape of a dataset: returns ndim (0 = scalar) or -1 on error; numeric = 1 for int/float/bool */
int cil_h5r_shape(cil_h5r *r, const char *path, int64_t *dims, int maxdim, int *numeric);
/* read a numeric dataset into dst (numel floats, any integer/bool/float dtype) */
int cil_h5r_read_floats(cil_h5r *r, const char *path, float *dst, int64_t numel);
/* names of a group's members, sorted by name; *n set; free with cil_h5r_free_names */
char **cil_h5r_list(cil_h5r *r, const char *path, int *n);
void cil_h5r_free_names(char **names, int n);

#endif
