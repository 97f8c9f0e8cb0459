/* Declarations shared by the HDF5 files' sources (h5io.c, h5tree.c, h5seal.c). Not part of the public
 * API (that is h5io.h); nothing outside engine/data/h5*.c includes this. */
#ifndef CIL_H5INTERNAL_H
#define CIL_H5INTERNAL_H
#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>
#include "h5io.h"

/* Checkpoint format 2 adds a "cil_meta" attribute to every dataset (hash of its kind and shape) and to
 * every replay-buffer group (hash of its five size attributes): both are verified before anything is
 * allocated, so a flipped bit in a shape or a capacity is reported instead of asking for gigabytes.
 * Format 1 files (no cil_meta) still load, with range checks only. */
#define CIL_CKPT_FORMAT 2

/* an open file for reading (h5io.c); the tree reader uses its fields directly */
struct cil_h5r {
  hid_t f;
  char *path;
};

/* ---- checksums (h5seal.c) */
/* one dataset's contribution to a file's checksum: independent of the write order */
uint64_t cil_h5i_entry_mix(const char *path, uint64_t payload);
/* the cil_meta hash of a kind and a shape (or of a buffer's five size attributes) */
uint64_t cil_h5i_meta_hash(const char *kind, int ndim, const uint64_t *dims);

/* ---- HDF5 errors (h5io.c) */
void cil_h5i_quiet(void);       /* turn HDF5's own error printing off (once) */
const char *cil_h5i_msg(void);  /* HDF5's innermost error message for the last failed call ("" if none) */

/* ---- attributes (h5io.c) */
/* read a string attribute into out (size cap); returns 0 if missing or not a string */
int cil_h5i_attr_str_get(hid_t obj, const char *name, char *out, size_t cap);
/* create a scalar attribute of file type ftype from *v (memory type mtype) */
int cil_h5i_attr_i64_set(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v);
/* read a scalar attribute as mtype; returns 0 if missing */
int cil_h5i_attr_get(hid_t obj, const char *name, hid_t mtype, void *v);

/* ---- writer (h5io.c) */
/* set the cil_meta attribute (uint64) of the object at path; 0 with the error set on failure */
int cil_h5i_w_meta(cil_h5w *w, const char *path, uint64_t meta);

/* ---- reader (h5io.c) */
char *cil_h5i_dupstr(const char *s); /* malloc'd copy, NULL when out of memory */
int cil_h5i_is_numeric(hid_t t);     /* integer, float, bitfield, or an enum of integers (h5py bool) */
const char *cil_h5i_class_name(hid_t t);
/* read a numeric dataset (already open) as numel floats; file and path name it in errors */
int cil_h5i_read_numeric(hid_t ds, const char *file, const char *path, float *dst, int64_t numel);

#endif
