/* HDF5 files, the basics: HDF5 error and attribute helpers, the streaming writer (checkpoint tags, atomic
 * commit with fsync) and the reader handle (open, shape, numeric reads, group listing). The tree reader
 * and replay-buffer groups are in h5tree.c, the checksums and cil_h5_reseal in h5seal.c. See h5io.h. */
#define _POSIX_C_SOURCE 200809L
#include "h5io.h"
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "h5internal.h"

/* ------------------------------------------------------------------ HDF5 errors */
void cil_h5i_quiet(void) {
  static int done = 0;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    done = 1;
  }
}
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
  (void)n;
  if (e->desc && e->desc[0]) snprintf((char *)data, 256, "%s", e->desc); /* keep the innermost */
  return 0;
}
/* HDF5's innermost error message for the last failed call ("" if none) */
const char *cil_h5i_msg(void) {
  static char buf[256];
  buf[0] = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, buf);
  H5Eclear2(H5E_DEFAULT);
  return buf;
}

/* ------------------------------------------------------------------ attributes */
static int attr_str_set(hid_t obj, const char *name, const char *val) {
  hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
  H5Tset_size(t, strlen(val) ? strlen(val) : 1);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
  int ok = a >= 0 && H5Awrite(a, t, val) >= 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(s);
  H5Tclose(t);
  return ok;
}
/* read a string attribute into out (size cap); returns 0 if missing or not a string */
int cil_h5i_attr_str_get(hid_t obj, const char *name, char *out, size_t cap) {
  out[0] = 0;
  if (H5Aexists(obj, name) <= 0) return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return 0;
  hid_t t = H5Aget_type(a);
  int ok = 0;
  if (H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t)) {
    size_t sz = H5Tget_size(t);
    char *tmp = calloc(sz + 1, 1);
    hid_t mt = H5Tcopy(t);
    if (tmp && H5Aread(a, mt, tmp) >= 0) {
      snprintf(out, cap, "%s", tmp);
      ok = 1;
    }
    H5Tclose(mt);
    free(tmp);
  }
  H5Tclose(t);
  H5Aclose(a);
  return ok;
}
int cil_h5i_attr_i64_set(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v) {
  hid_t s = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
  int ok = a >= 0 && H5Awrite(a, mtype, v) >= 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(s);
  return ok;
}
int cil_h5i_attr_get(hid_t obj, const char *name, hid_t mtype, void *v) {
  if (H5Aexists(obj, name) <= 0) return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return 0;
  int ok = H5Aread(a, mtype, v) >= 0;
  H5Aclose(a);
  return ok;
}

/* ------------------------------------------------------------------ writer */
/* The file is built in memory (HDF5's core driver, no backing store) and written out by commit() with
 * plain write()/fsync(): every disk error (a full disk above all) is ours to report with its errno, and
 * HDF5 never holds a half-written file open (HDF5 1.10 crashes at exit on a file whose close failed). */
struct cil_h5w {
  hid_t f;
  int fd;                     /* the temporary file, created (and so checked writable) up front */
  char *path, *tmp;
  int ckpt;
  uint64_t sum, count;
};

char *cil_h5i_dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

cil_h5w *cil_h5w_create(const char *path, int checkpoint) {
  cil_h5i_quiet();
  cil_h5w *w = calloc(1, sizeof *w);
  if (!w) {
    cil_seterr("out of memory");
    return NULL;
  }
  w->ckpt = checkpoint;
  w->path = cil_h5i_dupstr(path);
  w->tmp = malloc(strlen(path) + 32);
  if (!w->path || !w->tmp) {
    free(w->path);
    free(w->tmp);
    free(w);
    cil_seterr("out of memory");
    return NULL;
  }
  sprintf(w->tmp, "%s.tmp-%ld", path, (long)getpid());
  w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (w->fd < 0) {
    cil_seterr("cannot write %s: cannot create %s (%s)", path, w->tmp, strerror(errno));
    free(w->path);
    free(w->tmp);
    free(w);
    return NULL;
  }
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_core(fapl, (size_t)8 << 20, 0);
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_obj_track_times(fcpl, 0); /* the root group too */
  w->f = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl);
  H5Pclose(fcpl);
  H5Pclose(fapl);
  if (w->f < 0) {
    const char *m = cil_h5i_msg();
    cil_seterr("cannot write %s: HDF5 cannot create a file (%s)", path, m);
    close(w->fd);
    unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w);
    return NULL;
  }
  if (checkpoint) {
    int64_t ver = CIL_CKPT_FORMAT;
    attr_str_set(w->f, "cil_kind", "table");
    cil_h5i_attr_i64_set(w->f, "cil_format", H5T_STD_I64LE, H5T_NATIVE_INT64, &ver);
  }
  return w;
}

static int werr(cil_h5w *w, const char *what, const char *obj) {
  const char *m = cil_h5i_msg();
  cil_seterr("cannot write %s: %s '%s' failed%s%s", w->path, what, obj, *m ? ": " : "", m);
  return 0;
}

static hid_t lcpl_intermediate(void) {
  hid_t l = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(l, 1);
  return l;
}

int cil_h5w_group(cil_h5w *w, const char *path, const char *kind) {
  hid_t l = lcpl_intermediate();
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  H5Pset_obj_track_times(gcpl, 0); /* no clock in the file: the same content makes the same bytes */
  hid_t g = H5Gcreate2(w->f, path, l, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  H5Pclose(l);
  if (g < 0) return werr(w, "creating group", path);
  int ok = !(w->ckpt && kind) || attr_str_set(g, "cil_kind", kind);
  H5Gclose(g);
  return ok ? 1 : werr(w, "tagging group", path);
}

/* create a dataset, write it, tag it (checkpoint mode). mem = memory type of data. */
static int write_ds(cil_h5w *w, const char *path, hid_t ftype, hid_t mtype, size_t esize,
                    const void *data, int ndim, const int64_t *shape, int gzip, const char *kind) {
  hsize_t dims[CIL_MAXDIM];
  uint64_t numel = 1;
  if (ndim < 0 || ndim > CIL_MAXDIM) {
    cil_seterr("cannot write %s: '%s' has %d dims (at most %d)", w->path, path, ndim, CIL_MAXDIM);
    return 0;
  }
  for (int d = 0; d < ndim; d++) {
    dims[d] = (hsize_t)shape[d];
    numel *= dims[d];
  }
  hid_t space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_obj_track_times(dcpl, 0);
  if (gzip > 0 && ndim > 0 && numel > 0) {
    hsize_t chunk[CIL_MAXDIM];
    uint64_t rowbytes = esize;
    for (int d = 1; d < ndim; d++) {
      chunk[d] = dims[d];
      rowbytes *= dims[d];
    }
    uint64_t rows = (256u << 10) / (rowbytes ? rowbytes : 1); /* ~256 KB chunks */
    if (rows < 1) rows = 1;
    if (rows > dims[0]) rows = dims[0];
    chunk[0] = rows;
    H5Pset_chunk(dcpl, ndim, chunk);
    H5Pset_deflate(dcpl, gzip > 9 ? 9 : (unsigned)gzip);
  }
  hid_t l = lcpl_intermediate();
  hid_t ds = H5Dcreate2(w->f, path, ftype, space, l, dcpl, H5P_DEFAULT);
  H5Pclose(l);
  H5Pclose(dcpl);
  H5Sclose(space);
  if (ds < 0) return werr(w, "creating dataset", path);
  if (numel > 0 && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    H5Dclose(ds);
    return werr(w, "writing dataset", path);
  }
  if (w->ckpt) {
    uint64_t h = cil_hash64(data, (size_t)numel * esize, 0), d64[CIL_MAXDIM];
    for (int d = 0; d < ndim; d++) d64[d] = dims[d];
    uint64_t mh = cil_h5i_meta_hash(kind ? kind : "tensor", ndim, d64);
    if (!attr_str_set(ds, "cil_kind", kind ? kind : "tensor") ||
        !cil_h5i_attr_i64_set(ds, "cil_hash", H5T_STD_U64LE, H5T_NATIVE_UINT64, &h) ||
        !cil_h5i_attr_i64_set(ds, "cil_meta", H5T_STD_U64LE, H5T_NATIVE_UINT64, &mh)) {
      H5Dclose(ds);
      return werr(w, "tagging dataset", path);
    }
    w->sum += cil_h5i_entry_mix(path, h);
    w->count++;
  }
  H5Dclose(ds);
  return 1;
}

int cil_h5w_floats(cil_h5w *w, const char *path, const float *data, int ndim, const int64_t *shape,
                   int gzip, const char *kind) {
  return write_ds(w, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, data, ndim, shape, gzip, kind);
}

int cil_h5w_tensor(cil_h5w *w, const char *path, const cil_tensor *t, int gzip) {
  int64_t s[CIL_MAXDIM];
  for (int d = 0; d < t->ndim; d++) s[d] = t->shape[d];
  if (!cil_h5w_floats(w, path, t->data, t->ndim, s, gzip, "tensor")) return 0;
  if (w->ckpt && t->requires_grad) return cil_h5w_attr_int(w, path, "requires_grad", 1);
  return 1;
}

static hid_t bool_enum(void) {
  hid_t e = H5Tenum_create(H5T_NATIVE_INT8);
  int8_t v = 0;
  H5Tenum_insert(e, "FALSE", &v);
  v = 1;
  H5Tenum_insert(e, "TRUE", &v);
  return e;
}

int cil_h5w_flags(cil_h5w *w, const char *path, const float *src, int64_t n, int gzip) {
  int8_t *b = malloc(n ? (size_t)n : 1);
  if (!b) {
    cil_seterr("out of memory");
    return 0;
  }
  for (int64_t i = 0; i < n; i++) b[i] = src[i] != 0.0f;
  hid_t e = bool_enum();
  int ok = write_ds(w, path, e, e, 1, b, 1, &n, gzip, "flags");
  H5Tclose(e);
  free(b);
  return ok;
}

int cil_h5w_int(cil_h5w *w, const char *path, int64_t v, const char *kind) {
  return write_ds(w, path, H5T_STD_I64LE, H5T_NATIVE_INT64, 8, &v, 0, NULL, 0, kind ? kind : "int");
}
int cil_h5w_double(cil_h5w *w, const char *path, double v) {
  return write_ds(w, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8, &v, 0, NULL, 0, "float");
}
int cil_h5w_bool(cil_h5w *w, const char *path, int v) {
  if (w->ckpt) return cil_h5w_int(w, path, v ? 1 : 0, "bool");
  int8_t b = v ? 1 : 0;
  hid_t e = bool_enum();
  int ok = write_ds(w, path, e, e, 1, &b, 0, NULL, 0, "bool");
  H5Tclose(e);
  return ok;
}

int cil_h5w_bytes(cil_h5w *w, const char *path, const void *data, size_t len, const char *kind) {
  if (w->ckpt) {
    int64_t n = (int64_t)len;
    return write_ds(w, path, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, data, 1, &n, 0, kind ? kind : "string");
  }
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, len ? len : 1);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  char zero = 0;
  int ok = write_ds(w, path, t, t, len ? len : 1, len ? data : &zero, 0, NULL, 0, kind);
  H5Tclose(t);
  return ok;
}

int cil_h5w_attr_int(cil_h5w *w, const char *path, const char *name, int64_t v) {
  hid_t o = H5Oopen(w->f, path, H5P_DEFAULT);
  if (o < 0) return werr(w, "opening", path);
  int ok = cil_h5i_attr_i64_set(o, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
  H5Oclose(o);
  return ok ? 1 : werr(w, "setting an attribute on", path);
}

int cil_h5i_w_meta(cil_h5w *w, const char *path, uint64_t meta) {
  hid_t o = H5Oopen(w->f, path, H5P_DEFAULT);
  int ok = o >= 0 && cil_h5i_attr_i64_set(o, "cil_meta", H5T_STD_U64LE, H5T_NATIVE_UINT64, &meta);
  if (o >= 0) H5Oclose(o);
  return ok ? 1 : werr(w, "tagging", path);
}

static void free_writer(cil_h5w *w) {
  free(w->path);
  free(w->tmp);
  free(w);
}

void cil_h5w_abort(cil_h5w *w) {
  if (!w) return;
  if (w->f >= 0) H5Fclose(w->f);
  if (w->fd >= 0) close(w->fd);
  unlink(w->tmp);
  free_writer(w);
}

/* "the disk is full" for ENOSPC/EDQUOT, else strerror */
static const char *io_why(int e) {
  static char buf[160];
  if (e == ENOSPC || e == EDQUOT)
    snprintf(buf, sizeof buf, "the disk is full (%s)", strerror(e));
  else
    snprintf(buf, sizeof buf, "%s", strerror(e));
  return buf;
}

static int fsync_path(const char *p, int dir) {
  int fd = open(p, O_RDONLY | (dir ? O_DIRECTORY : 0));
  if (fd < 0) return 0;
  int ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

int cil_h5w_commit(cil_h5w *w) {
  if (w->ckpt) {
    if (!cil_h5i_attr_i64_set(w->f, "cil_checksum", H5T_STD_U64LE, H5T_NATIVE_UINT64, &w->sum) ||
        !cil_h5i_attr_i64_set(w->f, "cil_count", H5T_STD_U64LE, H5T_NATIVE_UINT64, &w->count)) {
      werr(w, "writing the checksum of", "/");
      cil_h5w_abort(w);
      return 0;
    }
  }
  /* the in-memory image, then our own write of it */
  if (H5Fflush(w->f, H5F_SCOPE_LOCAL) < 0) {
    werr(w, "flushing", w->tmp);
    cil_h5w_abort(w);
    return 0;
  }
  ssize_t size = H5Fget_file_image(w->f, NULL, 0);
  unsigned char *img = size > 0 ? malloc((size_t)size) : NULL;
  if (!img || H5Fget_file_image(w->f, img, (size_t)size) != size) {
    free(img);
    if (size > 0) cil_seterr("cannot write %s: out of memory for its %lld-byte image", w->path, (long long)size);
    else werr(w, "making the image of", w->tmp);
    cil_h5w_abort(w);
    return 0;
  }
  H5Fclose(w->f);
  w->f = -1;
  for (ssize_t done = 0; done < size;) {
    ssize_t k = write(w->fd, img + done, (size_t)(size - done));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      int e = k < 0 ? errno : ENOSPC;
      free(img);
      cil_seterr("cannot write %s: writing %s failed after %lld of %lld bytes: %s; the previous file is untouched",
                 w->path, w->tmp, (long long)done, (long long)size, io_why(e));
      cil_h5w_abort(w);
      return 0;
    }
    done += k;
  }
  free(img);
  int synced = fsync(w->fd) == 0, e = errno;
  int closed = close(w->fd) == 0;
  if (synced && !closed) e = errno;
  if (!synced || !closed) {
    w->fd = -1;
    cil_seterr("cannot write %s: fsync of %s failed: %s; the previous file is untouched", w->path, w->tmp, io_why(e));
    cil_h5w_abort(w);
    return 0;
  }
  w->fd = -1;
  if (rename(w->tmp, w->path) != 0) {
    cil_seterr("cannot write %s: rename from %s failed (%s)", w->path, w->tmp, strerror(errno));
    cil_h5w_abort(w);
    return 0;
  }
  /* make the rename itself durable */
  char *dir = cil_h5i_dupstr(w->path);
  if (dir) {
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    else strcpy(dir, ".");
    fsync_path(dir, 1);
    free(dir);
  }
  free_writer(w);
  return 1;
}

/* ------------------------------------------------------------------ reader handle */
/* struct cil_h5r is in h5internal.h (the tree reader in h5tree.c uses it) */

cil_h5r *cil_h5r_open(const char *path) {
  cil_h5i_quiet();
  struct stat st;
  if (stat(path, &st) != 0) {
    cil_seterr("cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    cil_seterr("cannot open %s: not a regular file", path);
    return NULL;
  }
  if (access(path, R_OK) != 0) {
    cil_seterr("cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  htri_t is = H5Fis_hdf5(path);
  if (is <= 0) {
    cil_h5i_msg();
    cil_seterr("cannot open %s: not an HDF5 file (%lld bytes; truncated or corrupt?)", path,
               (long long)st.st_size);
    return NULL;
  }
  if (!cil_h5_vet(path)) return NULL;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    const char *m = cil_h5i_msg();
    cil_seterr("cannot open %s: the HDF5 file is damaged (truncated or corrupt?)%s%s", path,
               *m ? "; HDF5 says: " : "", m);
    return NULL;
  }
  cil_h5r *r = calloc(1, sizeof *r);
  if (!r || !(r->path = cil_h5i_dupstr(path))) {
    free(r);
    H5Fclose(f);
    cil_seterr("out of memory");
    return NULL;
  }
  r->f = f;
  return r;
}

void cil_h5r_close(cil_h5r *r) {
  if (!r) return;
  H5Fclose(r->f);
  free(r->path);
  free(r);
}

const char *cil_h5r_path(const cil_h5r *r) { return r->path; }

int cil_h5r_exists(cil_h5r *r, const char *path) {
  char buf[1024];
  size_t n = strlen(path);
  if (n == 0 || (n == 1 && path[0] == '/')) return 1;
  if (n >= sizeof buf) return 0;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == 0) {
      char c = buf[i];
      buf[i] = 0;
      htri_t e = H5Lexists(r->f, buf, H5P_DEFAULT);
      buf[i] = c;
      if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
      }
    }
  }
  return 1;
}

int cil_h5r_is_group(cil_h5r *r, const char *path) {
  if (!cil_h5r_exists(r, path)) return 0;
  hid_t o = H5Oopen(r->f, path, H5P_DEFAULT);
  if (o < 0) {
    cil_h5i_msg();
    return 0;
  }
  int g = H5Iget_type(o) == H5I_GROUP;
  H5Oclose(o);
  return g;
}

int cil_h5i_is_numeric(hid_t t) {
  H5T_class_t c = H5Tget_class(t);
  if (c == H5T_INTEGER || c == H5T_FLOAT || c == H5T_BITFIELD) return 1;
  if (c == H5T_ENUM) {
    hid_t s = H5Tget_super(t);
    int ok = H5Tget_class(s) == H5T_INTEGER;
    H5Tclose(s);
    return ok;
  }
  return 0;
}

const char *cil_h5i_class_name(hid_t t) {
  switch (H5Tget_class(t)) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
  }
}

int cil_h5r_shape(cil_h5r *r, const char *path, int64_t *dims, int maxdim, int *numeric) {
  if (!cil_h5r_exists(r, path)) {
    cil_seterr("%s: no key '%s'", r->path, path);
    return -1;
  }
  hid_t ds = H5Dopen2(r->f, path, H5P_DEFAULT);
  if (ds < 0) {
    cil_h5i_msg();
    cil_seterr("%s: '%s' is not a dataset", r->path, path);
    return -1;
  }
  hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t d[32];
  int ret = nd;
  if (nd < 0 || nd > 32) {
    cil_seterr("%s: cannot read the shape of '%s'", r->path, path);
    ret = -1;
  } else {
    H5Sget_simple_extent_dims(sp, d, NULL);
    for (int i = 0; i < nd && i < maxdim; i++) dims[i] = (int64_t)d[i];
    if (numeric) *numeric = cil_h5i_is_numeric(t);
  }
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(ds);
  return ret;
}

/* read a numeric dataset (already open) as numel floats */
int cil_h5i_read_numeric(hid_t ds, const char *file, const char *path, float *dst, int64_t numel) {
  hid_t t = H5Dget_type(ds);
  int ok = 0;
  if (!cil_h5i_is_numeric(t)) {
    cil_seterr("%s: '%s' has %s dtype; expected numbers (float, integer or bool)", file, path,
               cil_h5i_class_name(t));
    H5Tclose(t);
    return 0;
  }
  hid_t sp = H5Dget_space(ds);
  hssize_t have = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  if (have != numel) {
    cil_seterr("%s: '%s' has %lld elements, expected %lld", file, path, (long long)have,
               (long long)numel);
    H5Tclose(t);
    return 0;
  }
  if (numel == 0) {
    H5Tclose(t);
    return 1;
  }
  H5T_class_t c = H5Tget_class(t);
  if (c == H5T_INTEGER || c == H5T_FLOAT) {
    ok = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) >= 0;
  } else { /* enum (h5py bool) or bitfield: read the raw integers and convert ourselves */
    hid_t base = c == H5T_ENUM ? H5Tget_super(t) : H5Tcopy(t);
    hid_t mt = H5Tget_native_type(t, H5T_DIR_ASCEND);
    size_t sz = H5Tget_size(base);
    int sgn = H5Tget_class(base) == H5T_INTEGER && H5Tget_sign(base) == H5T_SGN_2;
    unsigned char *tmp = malloc((size_t)numel * sz);
    if (tmp && sz <= 8 && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) >= 0) {
      ok = 1;
      for (int64_t i = 0; i < numel; i++) {
        const unsigned char *p = tmp + i * sz;
        double v;
        switch (sz) {
          case 1: v = sgn ? (double)*(const int8_t *)p : (double)*p; break;
          case 2: { int16_t s; uint16_t u; memcpy(&s, p, 2); memcpy(&u, p, 2); v = sgn ? (double)s : (double)u; } break;
          case 4: { int32_t s; uint32_t u; memcpy(&s, p, 4); memcpy(&u, p, 4); v = sgn ? (double)s : (double)u; } break;
          default: { int64_t s; uint64_t u; memcpy(&s, p, 8); memcpy(&u, p, 8); v = sgn ? (double)s : (double)u; }
        }
        dst[i] = (float)v;
      }
    }
    free(tmp);
    H5Tclose(mt);
    H5Tclose(base);
  }
  H5Tclose(t);
  if (!ok) {
    const char *m = cil_h5i_msg();
    cil_seterr("%s: reading '%s' failed (truncated or corrupt file?)%s%s", file, path,
               *m ? "; HDF5 says: " : "", m);
  }
  return ok;
}

int cil_h5r_read_floats(cil_h5r *r, const char *path, float *dst, int64_t numel) {
  hid_t ds = H5Dopen2(r->f, path, H5P_DEFAULT);
  if (ds < 0) {
    cil_h5i_msg();
    cil_seterr("%s: no dataset '%s'", r->path, path);
    return 0;
  }
  int ok = cil_h5i_read_numeric(ds, r->path, path, dst, numel);
  H5Dclose(ds);
  return ok;
}

typedef struct {
  char **names;
  int n, cap;
} namelist;
static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)g;
  (void)info;
  namelist *l = data;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **nn = realloc(l->names, (size_t)cap * sizeof *nn);
    if (!nn) return -1;
    l->names = nn;
    l->cap = cap;
  }
  if (!(l->names[l->n] = cil_h5i_dupstr(name))) return -1;
  l->n++;
  return 0;
}

char **cil_h5r_list(cil_h5r *r, const char *path, int *n) {
  namelist l = {0};
  *n = 0;
  hid_t g = H5Gopen2(r->f, path, H5P_DEFAULT);
  if (g < 0) {
    cil_h5i_msg();
    cil_seterr("%s: '%s' is not a group", r->path, path);
    return NULL;
  }
  hsize_t idx = 0;
  herr_t st = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &l);
  H5Gclose(g);
  if (st < 0) {
    const char *m = cil_h5i_msg();
    cil_h5r_free_names(l.names, l.n);
    cil_seterr("%s: cannot list the members of group '%s': the file is damaged (truncated or corrupt?)%s%s",
               r->path, path, *m ? "; HDF5 says: " : "", m);
    return NULL;
  }
  *n = l.n;
  if (!l.names) l.names = malloc(sizeof(char *)); /* non-NULL for an empty group */
  return l.names;
}

void cil_h5r_free_names(char **names, int n) {
  if (!names) return;
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}
