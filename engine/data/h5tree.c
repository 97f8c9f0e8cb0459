/* HDF5 files as trees: cil_h5_read_tree loads a group into cil_h5node trees (plain files, and
 * checkpoints with every hash verified), and replay buffers as groups in those files (cil_h5w_buffer,
 * the buffer-group reader, cil_buffer_save/load). See h5io.h. */
#define _POSIX_C_SOURCE 200809L
#include "h5io.h"
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "h5internal.h"

/* ------------------------------------------------------------------ tree reader */
typedef struct {
  cil_h5r *r;
  int ckpt;
  uint64_t sum, count;
  int depth; /* groups open on the way down (bounds the recursion) */
  int fmt;   /* checkpoint format (1: no cil_meta attributes) */
} treectx;

/* this machine's memory in bytes (a bound on what a file may ask us to allocate) */
static uint64_t phys_bytes(void) {
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : (uint64_t)1 << 36;
}
static int check_alloc(treectx *c, const char *path, uint64_t bytes) {
  uint64_t have = phys_bytes();
  if (bytes > have) {
    cil_seterr("checkpoint %s is damaged: '%s' would need %.1f GB, more than this machine's %.1f GB of memory",
               c->r->path, path, bytes / 1e9, have / 1e9);
    return 0;
  }
  return 1;
}
/* format 2: the object's cil_meta attribute must match its kind and shape (or buffer attributes) */
static int check_meta(treectx *c, hid_t obj, const char *path, const char *kind, int nd, const uint64_t *dims) {
  if (c->fmt < 2) return 1;
  uint64_t want = 0;
  if (!cil_h5i_attr_get(obj, "cil_meta", H5T_NATIVE_UINT64, &want)) {
    cil_seterr("checkpoint %s is damaged: '%s' has no cil_meta attribute", c->r->path, path);
    return 0;
  }
  if (want != cil_h5i_meta_hash(kind, nd, dims)) {
    cil_seterr("checkpoint %s is corrupt: the shape or kind ('%s') of '%s' does not match its checksum",
               c->r->path, kind, path);
    return 0;
  }
  return 1;
}
/* an uncompressed dataset must hold exactly the bytes its shape says (a damaged shape, a cut file) */
static int check_storage(treectx *c, hid_t ds, hid_t t, const char *path, uint64_t numel) {
  hid_t dcpl = H5Dget_create_plist(ds);
  H5D_layout_t lay = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
  if (dcpl >= 0) H5Pclose(dcpl);
  if (lay != H5D_CONTIGUOUS && lay != H5D_COMPACT) return 1;
  uint64_t want = numel * (uint64_t)H5Tget_size(t), have = H5Dget_storage_size(ds);
  if (numel > 0 && have != want) {
    cil_seterr("checkpoint %s is damaged: '%s' stores %llu bytes but its shape needs %llu (truncated or "
               "corrupt file?)", c->r->path, path, (unsigned long long)have, (unsigned long long)want);
    return 0;
  }
  return 1;
}
#define CIL_H5_MAX_DEPTH 512

static cil_h5node *new_node(const char *name) {
  cil_h5node *n = calloc(1, sizeof *n);
  if (n && !(n->name = cil_h5i_dupstr(name))) {
    free(n);
    n = NULL;
  }
  if (!n) cil_seterr("out of memory");
  return n;
}

void cil_h5_free_tree(cil_h5node *n) {
  while (n) {
    cil_h5node *next = n->next;
    cil_h5_free_tree(n->child);
    if (n->tensor) cil_release(n->tensor);
    if (n->buffer) cil_buffer_free(n->buffer);
    free(n->bytes);
    free(n->name);
    free(n);
    n = next;
  }
}

const cil_h5node *cil_h5_find(const cil_h5node *group, const char *name) {
  for (const cil_h5node *c = group ? group->child : NULL; c; c = c->next)
    if (strcmp(c->name, name) == 0) return c;
  return NULL;
}

/* verify a checkpoint dataset's payload against its cil_hash attribute */
static int verify(treectx *c, hid_t ds, const char *path, const void *data, size_t bytes) {
  uint64_t want = 0, h = cil_hash64(data, bytes, 0);
  if (!cil_h5i_attr_get(ds, "cil_hash", H5T_NATIVE_UINT64, &want)) {
    cil_seterr("checkpoint %s is damaged: '%s' has no checksum attribute", c->r->path, path);
    return 0;
  }
  if (want != h) {
    cil_seterr("checkpoint %s is corrupt: checksum mismatch in '%s'", c->r->path, path);
    return 0;
  }
  c->sum += cil_h5i_entry_mix(path, h);
  c->count++;
  return 1;
}

static int read_fixed(treectx *c, hid_t ds, const char *path, hid_t mtype, void *dst, hssize_t numel) {
  if (numel > 0 && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
    const char *m = cil_h5i_msg();
    cil_seterr("%s %s: reading '%s' failed (truncated or corrupt?)%s%s",
               c->ckpt ? "checkpoint" : "file", c->r->path, path, *m ? "; HDF5 says: " : "", m);
    return 0;
  }
  return 1;
}

/* a string dataset (fixed or variable length scalar) into node bytes */
static int read_string(treectx *c, hid_t ds, hid_t t, const char *path, cil_h5node *n) {
  hid_t sp = H5Dget_space(ds);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  if (np != 1) return 2; /* arrays of strings are skipped */
  int ok = 0;
  if (H5Tis_variable_str(t)) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(t));
    char *s = NULL;
    if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0) {
      n->len = s ? strlen(s) : 0;
      n->bytes = malloc(n->len + 1);
      if (n->bytes) {
        if (n->len) memcpy(n->bytes, s, n->len);
        n->bytes[n->len] = 0;
        ok = 1;
      }
      if (s) H5free_memory(s);
    }
    H5Tclose(mt);
  } else {
    size_t sz = H5Tget_size(t);
    n->bytes = calloc(sz + 1, 1);
    hid_t mt = H5Tcopy(t);
    if (n->bytes && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, n->bytes) >= 0) {
      n->len = strnlen(n->bytes, sz);
      ok = 1;
    }
    H5Tclose(mt);
  }
  if (!ok) {
    cil_h5i_msg();
    cil_seterr("file %s: cannot read string '%s'", c->r->path, path);
    return 0;
  }
  n->type = CIL_H5_BYTES;
  return 1;
}

/* numeric dataset -> tensor (persistent, float32) or scalar number */
static int read_generic(treectx *c, hid_t ds, hid_t t, const char *path, cil_h5node *n) {
  hid_t sp = H5Dget_space(ds);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t d[32];
  if (nd >= 0 && nd <= 32) H5Sget_simple_extent_dims(sp, d, NULL);
  H5Sclose(sp);
  if (nd < 0 || nd > CIL_MAXDIM) return 2; /* skipped: more dims than a tensor has */
  H5T_class_t cls = H5Tget_class(t);
  if (nd == 0) {
    if (cls == H5T_FLOAT) {
      n->type = CIL_H5_FLOAT;
      return read_fixed(c, ds, path, H5T_NATIVE_DOUBLE, &n->f, 1);
    }
    if (cls == H5T_INTEGER) {
      n->type = CIL_H5_INT;
      return read_fixed(c, ds, path, H5T_NATIVE_INT64, &n->i, 1);
    }
    float v;
    if (!cil_h5i_read_numeric(ds, c->r->path, path, &v, 1)) return 0;
    n->type = CIL_H5_BOOL;
    n->i = v != 0.0f;
    return 1;
  }
  int shape[CIL_MAXDIM];
  for (int i = 0; i < nd; i++) {
    if (d[i] > 2147483647u) return 2;
    shape[i] = (int)d[i];
  }
  n->tensor = cil_persistent(nd, shape);
  if (!n->tensor) return 0;
  n->type = CIL_H5_TENSOR;
  return cil_h5i_read_numeric(ds, c->r->path, path, n->tensor->data, n->tensor->numel);
}

static int read_ckpt_ds(treectx *c, hid_t ds, hid_t t, const char *path, cil_h5node *n) {
  if (!cil_h5i_attr_str_get(ds, "cil_kind", n->kind, sizeof n->kind)) {
    cil_seterr("checkpoint %s is damaged: '%s' has no cil_kind attribute", c->r->path, path);
    return 0;
  }
  hid_t sp = H5Dget_space(ds);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t d[32] = {0};
  uint64_t d64[32] = {0};
  hssize_t numel = H5Sget_simple_extent_npoints(sp);
  if (nd >= 0 && nd <= 32) H5Sget_simple_extent_dims(sp, d, NULL);
  H5Sclose(sp);
  if (nd < 0 || nd > 32 || numel < 0) {
    cil_seterr("checkpoint %s is damaged: cannot read the shape of '%s'", c->r->path, path);
    return 0;
  }
  for (int i = 0; i < nd; i++) d64[i] = d[i];
  if (!check_meta(c, ds, path, n->kind, nd, d64)) return 0;
  H5T_class_t cls = H5Tget_class(t);
  if (!strcmp(n->kind, "tensor")) {
    if (nd > CIL_MAXDIM || cls != H5T_FLOAT || H5Tget_size(t) != 4) {
      cil_seterr("checkpoint %s is damaged: tensor '%s' is not float32 with at most %d dims",
                 c->r->path, path, CIL_MAXDIM);
      return 0;
    }
    int shape[CIL_MAXDIM];
    uint64_t total = 1;
    for (int i = 0; i < nd; i++) {
      if (d[i] > 2147483647u || (total *= d[i]) > 2147483647u) {
        cil_seterr("checkpoint %s is damaged: tensor '%s' has dimension %d of size %llu (a tensor holds at most "
                   "2^31-1 elements)", c->r->path, path, i + 1, (unsigned long long)d[i]);
        return 0;
      }
      shape[i] = (int)d[i];
    }
    if (!check_storage(c, ds, t, path, (uint64_t)numel) || !check_alloc(c, path, (uint64_t)numel * 4)) return 0;
    n->tensor = cil_persistent(nd, shape);
    if (!n->tensor) return 0;
    if (n->tensor->numel != (int64_t)numel) {
      cil_seterr("checkpoint %s is damaged: tensor '%s' has %lld elements, its shape %lld", c->r->path, path,
                 (long long)numel, (long long)n->tensor->numel);
      return 0;
    }
    n->type = CIL_H5_TENSOR;
    int64_t rg = 0;
    cil_h5i_attr_get(ds, "requires_grad", H5T_NATIVE_INT64, &rg);
    n->requires_grad = rg != 0;
    return read_fixed(c, ds, path, H5T_NATIVE_FLOAT, n->tensor->data, numel) &&
           verify(c, ds, path, n->tensor->data, (size_t)numel * 4);
  }
  if (!strcmp(n->kind, "int") || !strcmp(n->kind, "bool") || !strcmp(n->kind, "float")) {
    int isf = !strcmp(n->kind, "float");
    if (numel != 1 || (cls != H5T_INTEGER && cls != H5T_FLOAT)) {
      cil_seterr("checkpoint %s is damaged: '%s' (%s) holds %lld values of class %s, expected one number",
                 c->r->path, path, n->kind, (long long)numel, cil_h5i_class_name(t));
      return 0;
    }
    if (isf) {
      n->type = CIL_H5_FLOAT;
      return read_fixed(c, ds, path, H5T_NATIVE_DOUBLE, &n->f, 1) && verify(c, ds, path, &n->f, 8);
    }
    n->type = !strcmp(n->kind, "int") ? CIL_H5_INT : CIL_H5_BOOL;
    return read_fixed(c, ds, path, H5T_NATIVE_INT64, &n->i, 1) && verify(c, ds, path, &n->i, 8);
  }
  /* byte strings: "string", "generator", ... */
  if (nd != 1 || cls != H5T_INTEGER || H5Tget_size(t) != 1) {
    cil_seterr("checkpoint %s is damaged: '%s' (%s) is not a byte array", c->r->path, path, n->kind);
    return 0;
  }
  if (!check_storage(c, ds, t, path, (uint64_t)numel) || !check_alloc(c, path, (uint64_t)numel)) return 0;
  n->type = CIL_H5_BYTES;
  n->len = (size_t)numel;
  n->bytes = malloc(n->len + 1);
  if (!n->bytes) {
    cil_seterr("out of memory");
    return 0;
  }
  n->bytes[n->len] = 0;
  return read_fixed(c, ds, path, H5T_NATIVE_UINT8, n->bytes, numel) &&
         verify(c, ds, path, n->bytes, n->len);
}

/* a float column of a buffer group: exactly numel values, verified */
static int read_column(treectx *c, hid_t g, const char *gpath, const char *name, float *dst, int64_t numel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", gpath, name);
  hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
  if (ds < 0) {
    cil_h5i_msg();
    cil_seterr("checkpoint %s is damaged: buffer column '%s' is missing", c->r->path, path);
    return 0;
  }
  hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t d[32] = {0};
  uint64_t d64[32] = {0};
  if (nd >= 0 && nd <= 32) H5Sget_simple_extent_dims(sp, d, NULL);
  for (int i = 0; i >= 0 && i < nd && i < 32; i++) d64[i] = d[i];
  H5Sclose(sp);
  int ok = np == numel;
  if (!ok)
    cil_seterr("checkpoint %s is damaged: buffer column '%s' has %lld values, expected %lld",
               c->r->path, path, (long long)np, (long long)numel);
  if (ok && H5Tget_class(t) != H5T_FLOAT) {
    cil_seterr("checkpoint %s is damaged: buffer column '%s' is not float", c->r->path, path);
    ok = 0;
  }
  ok = ok && check_meta(c, ds, path, "column", nd, d64) && check_storage(c, ds, t, path, (uint64_t)numel);
  H5Tclose(t);
  ok = ok && read_fixed(c, ds, path, H5T_NATIVE_FLOAT, dst, numel) &&
       verify(c, ds, path, dst, (size_t)numel * 4);
  H5Dclose(ds);
  return ok;
}

/* the slot holding the row stored after slot i (the next slot; slot 0 after the last once the ring is
 * full), or -1 */
static int64_t buffer_successor(const cil_buffer *b, int64_t i) {
  if (i + 1 < b->size) return i + 1;
  return b->size == b->capacity && b->size > 1 ? 0 : -1;
}

/* next_obs: a full column (older checkpoints) or the rows that differ from their successor's obs */
static int read_next_obs(treectx *c, hid_t g, const char *gpath, cil_buffer *b) {
  int64_t n = b->size, od = b->obs_dim, e = 0;
  if (H5Lexists(g, "next_obs", H5P_DEFAULT) > 0) return read_column(c, g, gpath, "next_obs", b->next_obs, n * od);
  char path[2100];
  snprintf(path, sizeof path, "%s/next_obs_same", gpath);
  hid_t ds = H5Lexists(g, "next_obs_same", H5P_DEFAULT) > 0 ? H5Dopen2(g, "next_obs_same", H5P_DEFAULT) : -1;
  if (ds < 0) {
    cil_seterr("checkpoint %s is damaged: buffer column '%s' is missing", c->r->path, path);
    return 0;
  }
  hid_t sp = H5Dget_space(ds);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  int8_t *same = malloc((size_t)(n ? n : 1));
  int ok = same != NULL;
  if (!ok) cil_seterr("out of memory");
  if (ok && np != n) {
    cil_seterr("checkpoint %s is damaged: '%s' has %lld values, expected %lld", c->r->path, path,
               (long long)np, (long long)n);
    ok = 0;
  }
  if (ok && c->fmt >= 2) {
    uint64_t d64 = (uint64_t)n;
    ok = check_meta(c, ds, path, "flags", 1, &d64);
  }
  ok = ok && read_fixed(c, ds, path, H5T_NATIVE_INT8, same, n) && verify(c, ds, path, same, (size_t)n);
  H5Dclose(ds);
  for (int64_t i = 0; ok && i < n; i++) {
    if (same[i] && buffer_successor(b, i) < 0) {
      cil_seterr("checkpoint %s is damaged: '%s' links row %lld to no row", c->r->path, path, (long long)i);
      ok = 0;
    }
    e += !same[i];
  }
  /* the others go straight into the column's first rows, then are spread out from the back */
  ok = ok && read_column(c, g, gpath, "next_obs_other", b->next_obs, e * od);
  for (int64_t i = n - 1; ok && i >= 0; i--)
    if (!same[i]) memmove(b->next_obs + i * od, b->next_obs + (--e) * od, sizeof(float) * (size_t)od);
  for (int64_t i = 0; ok && i < n; i++)
    if (same[i]) memcpy(b->next_obs + i * od, b->obs + buffer_successor(b, i) * od, sizeof(float) * (size_t)od);
  free(same);
  return ok;
}

static int read_buffer_group(treectx *c, hid_t g, const char *gpath, cil_h5node *n) {
  int64_t cap = 0, size = 0, pos = 0, od = 0, ad = 0;
  if (!cil_h5i_attr_get(g, "capacity", H5T_NATIVE_INT64, &cap) ||
      !cil_h5i_attr_get(g, "size", H5T_NATIVE_INT64, &size) ||
      !cil_h5i_attr_get(g, "pos", H5T_NATIVE_INT64, &pos) ||
      !cil_h5i_attr_get(g, "obs_dim", H5T_NATIVE_INT64, &od) ||
      !cil_h5i_attr_get(g, "act_dim", H5T_NATIVE_INT64, &ad)) {
    cil_seterr("checkpoint %s is damaged: replay buffer '%s' lacks one of its attributes (capacity, size, pos, "
               "obs_dim, act_dim)", c->r->path, gpath);
    return 0;
  }
  int64_t attrs[5] = {cap, size, pos, od, ad};
  if (!check_meta(c, g, gpath, "buffer", 5, (const uint64_t *)attrs)) return 0;
  if (size < 0 || size > cap || pos < 0 || pos >= cap || od < 1 || ad < 1 || od > 1 << 20 || ad > 1 << 20 ||
      (size < cap && pos != size) || cap > (((int64_t)1 << 31) - 1) / (od > ad ? od : ad)) {
    cil_seterr("checkpoint %s is damaged: replay buffer '%s' has missing or invalid attributes (capacity %lld, "
               "size %lld, pos %lld, obs_dim %lld, act_dim %lld; expected 0 <= size <= capacity, pos = size "
               "until the ring is full, capacity x dims < 2^31)", c->r->path, gpath, (long long)cap,
               (long long)size, (long long)pos, (long long)od, (long long)ad);
    return 0;
  }
  if (!check_alloc(c, gpath, (uint64_t)cap * (uint64_t)(2 * od + ad + 2) * 4)) return 0;
  cil_buffer *b = cil_buffer_new(cap, (int)od, (int)ad);
  if (!b) return 0;
  n->buffer = b;
  n->type = CIL_H5_BUFFER;
  b->size = size;
  b->pos = pos;
  return read_column(c, g, gpath, "obs", b->obs, size * od) &&
         read_column(c, g, gpath, "act", b->act, size * ad) &&
         read_column(c, g, gpath, "rew", b->rew, size) &&
         read_column(c, g, gpath, "done", b->done, size) && read_next_obs(c, g, gpath, b);
}

static int read_group(treectx *c, const char *gpath, cil_h5node *parent);
static int read_group_members(treectx *c, const char *gpath, cil_h5node *parent);

static int read_member(treectx *c, const char *gpath, const char *name, cil_h5node *n) {
  char path[2048];
  if (!strcmp(gpath, "/")) snprintf(path, sizeof path, "%s", name);
  else snprintf(path, sizeof path, "%s/%s", gpath, name);
  hid_t o = H5Oopen(c->r->f, path, H5P_DEFAULT);
  if (o < 0) {
    const char *m = cil_h5i_msg();
    cil_seterr("%s %s: cannot open '%s' (corrupt file?)%s%s", c->ckpt ? "checkpoint" : "file",
               c->r->path, path, *m ? "; HDF5 says: " : "", m);
    return 0;
  }
  int ok;
  if (H5Iget_type(o) == H5I_GROUP) {
    if (c->ckpt) cil_h5i_attr_str_get(o, "cil_kind", n->kind, sizeof n->kind);
    if (c->ckpt && !strcmp(n->kind, "buffer")) ok = read_buffer_group(c, o, path, n);
    else {
      n->type = CIL_H5_GROUP;
      ok = read_group(c, path, n);
    }
  } else if (H5Iget_type(o) == H5I_DATASET) {
    hid_t t = H5Dget_type(o);
    if (c->ckpt) ok = read_ckpt_ds(c, o, t, path, n);
    else if (H5Tget_class(t) == H5T_STRING) ok = read_string(c, o, t, path, n);
    else if (cil_h5i_is_numeric(t)) ok = read_generic(c, o, t, path, n);
    else ok = 2; /* compound, opaque, references: skipped */
    H5Tclose(t);
  } else {
    ok = 2;
  }
  H5Oclose(o);
  return ok;
}

static int read_group(treectx *c, const char *gpath, cil_h5node *parent) {
  if (c->depth >= CIL_H5_MAX_DEPTH) {
    cil_seterr("%s %s: groups are nested more than %d levels deep (damaged file?), at '%.60s...'",
               c->ckpt ? "checkpoint" : "file", c->r->path, CIL_H5_MAX_DEPTH, gpath);
    return 0;
  }
  c->depth++;
  int st = read_group_members(c, gpath, parent);
  c->depth--;
  return st;
}
static int read_group_members(treectx *c, const char *gpath, cil_h5node *parent) {
  int nn = 0;
  char **names = cil_h5r_list(c->r, gpath, &nn);
  if (!names) return 0;
  cil_h5node **tail = &parent->child;
  int ok = 1;
  for (int i = 0; i < nn && ok; i++) {
    cil_h5node *n = new_node(names[i]);
    if (!n) {
      ok = 0;
      break;
    }
    int st = read_member(c, gpath, names[i], n);
    if (st == 1) {
      *tail = n;
      tail = &n->next;
    } else {
      cil_h5_free_tree(n);
      if (st == 0) ok = 0;
    }
  }
  cil_h5r_free_names(names, nn);
  return ok;
}

cil_h5node *cil_h5_read_tree(const char *path, const char *group, int checkpoint) {
  cil_h5r *r = cil_h5r_open(path);
  if (!r) return NULL;
  treectx c = {r, checkpoint, 0, 0, 0, 1};
  uint64_t want_sum = 0, want_count = 0;
  int64_t fmt = 1;
  if (checkpoint && cil_h5i_attr_get(r->f, "cil_format", H5T_NATIVE_INT64, &fmt) &&
      (fmt < 1 || fmt > CIL_CKPT_FORMAT)) {
    cil_seterr("checkpoint %s has format %lld; this cleanil reads formats 1 to %d (damaged, or written by a "
               "newer cleanil?)", path, (long long)fmt, CIL_CKPT_FORMAT);
    cil_h5r_close(r);
    return NULL;
  }
  c.fmt = (int)fmt;
  if (checkpoint && (!cil_h5i_attr_get(r->f, "cil_checksum", H5T_NATIVE_UINT64, &want_sum) ||
                     !cil_h5i_attr_get(r->f, "cil_count", H5T_NATIVE_UINT64, &want_count))) {
    cil_seterr("%s is not a cleanil checkpoint (no checksum attributes on its root)", path);
    cil_h5r_close(r);
    return NULL;
  }
  if (!cil_h5r_is_group(r, group)) {
    cil_seterr("%s: no group '%s'", path, group);
    cil_h5r_close(r);
    return NULL;
  }
  cil_h5node *root = new_node(group);
  if (!root) {
    cil_h5r_close(r);
    return NULL;
  }
  root->type = CIL_H5_GROUP;
  strcpy(root->kind, "table");
  int ok = read_group(&c, group, root);
  if (ok && checkpoint && (c.sum != want_sum || c.count != want_count)) {
    cil_seterr("checkpoint %s is corrupt: %llu datasets found, %llu recorded; combined checksum %s",
               path, (unsigned long long)c.count, (unsigned long long)want_count,
               c.sum == want_sum ? "matches" : "does not match");
    ok = 0;
  }
  cil_h5r_close(r);
  if (!ok) {
    cil_h5_free_tree(root);
    return NULL;
  }
  return root;
}

/* ------------------------------------------------------------------ buffers in files */
int cil_h5w_buffer(cil_h5w *w, const char *path, const cil_buffer *b) {
  if (!cil_h5w_group(w, path, "buffer")) return 0;
  int64_t attrs[5] = {b->capacity, b->size, b->pos, b->obs_dim, b->act_dim};
  const char *an[5] = {"capacity", "size", "pos", "obs_dim", "act_dim"};
  for (int i = 0; i < 5; i++)
    if (!cil_h5w_attr_int(w, path, an[i], attrs[i])) return 0;
  if (!cil_h5i_w_meta(w, path, cil_h5i_meta_hash("buffer", 5, (const uint64_t *)attrs))) return 0;
  char p[2048];
  int64_t s2o[2] = {b->size, b->obs_dim}, s2a[2] = {b->size, b->act_dim}, s1[1] = {b->size};
#define COL(name, data, nd, shape)                                                                 \
  snprintf(p, sizeof p, "%s/%s", path, name);                                                      \
  if (!cil_h5w_floats(w, p, data, nd, shape, 0, "column")) return 0;
  COL("obs", b->obs, 2, s2o)
  COL("act", b->act, 2, s2a)
  COL("rew", b->rew, 1, s1)
  COL("done", b->done, 1, s1)
#undef COL
  /* next_obs is, but for episode ends, the obs of the row after it: store which rows that holds for
   * ("next_obs_same", a byte per row) and only the others -- 40 % fewer bytes for hopper */
  int64_t n = b->size, od = b->obs_dim, e = 0;
  float *same = malloc(sizeof(float) * (size_t)(n ? n : 1)), *other = NULL;
  for (int64_t i = 0; same && i < n; i++) {
    int64_t s = buffer_successor(b, i);
    same[i] = s >= 0 && memcmp(b->next_obs + i * od, b->obs + s * od, sizeof(float) * (size_t)od) == 0;
    e += same[i] == 0.0f;
  }
  if (same) other = malloc(sizeof(float) * (size_t)(e ? e * od : 1));
  if (!same || !other) {
    free(same), free(other);
    cil_seterr("out of memory saving a replay buffer");
    return 0;
  }
  for (int64_t i = 0, j = 0; i < n; i++)
    if (same[i] == 0.0f) memcpy(other + (j++) * od, b->next_obs + i * od, sizeof(float) * (size_t)od);
  int64_t s2e[2] = {e, od};
  snprintf(p, sizeof p, "%s/next_obs_same", path);
  int ok = cil_h5w_flags(w, p, same, n, 1);
  snprintf(p, sizeof p, "%s/next_obs_other", path);
  ok = ok && cil_h5w_floats(w, p, other, 2, s2e, 0, "column");
  free(same), free(other);
  return ok;
}

int cil_buffer_save(const cil_buffer *b, const char *path) {
  cil_h5w *w = cil_h5w_create(path, 1);
  if (!w) return 0;
  if (!cil_h5w_buffer(w, "buffer", b)) {
    cil_h5w_abort(w);
    return 0;
  }
  return cil_h5w_commit(w);
}

cil_buffer *cil_buffer_load(const char *path) {
  cil_h5node *root = cil_h5_read_tree(path, "/", 1);
  if (!root) return NULL;
  cil_h5node *n = (cil_h5node *)cil_h5_find(root, "buffer");
  cil_buffer *b = NULL;
  if (!n || n->type != CIL_H5_BUFFER) cil_seterr("%s holds no replay buffer", path);
  else {
    b = n->buffer;
    n->buffer = NULL;
  }
  cil_h5_free_tree(root);
  return b;
}
