/* Checkpoint checksums: the 64-bit hash (cil_hash64) and the per-dataset and metadata hashes built on it,
 * which the writer (h5io.c) stores and the tree reader (h5tree.c) verifies; and cil_h5_reseal, which
 * recomputes them all in an existing file. See h5io.h. */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include "h5internal.h"

/* ------------------------------------------------------------------ hashing */
static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
static inline uint64_t lane(uint64_t acc, uint64_t w) { return rotl64(acc + w * P2, 31) * P1; }
static inline uint64_t load64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
/* final avalanche (splitmix64's) */
static inline uint64_t fmix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t cil_hash64(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t v[4] = {seed + P1 + P2, seed + P2, seed, seed - P1};
  size_t i = 0;
  for (; i + 32 <= len; i += 32)
    for (int k = 0; k < 4; k++) v[k] = lane(v[k], load64(p + i + 8 * k));
  uint64_t h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18);
  for (; i + 8 <= len; i += 8) h = rotl64(h ^ lane(0, load64(p + i)), 27) * P1 + P3;
  for (; i < len; i++) h = rotl64(h ^ (p[i] * P3), 11) * P1;
  return fmix(h ^ (uint64_t)len);
}

/* one dataset's contribution to a file's checksum: independent of the write order */
uint64_t cil_h5i_entry_mix(const char *path, uint64_t payload) {
  return fmix(cil_hash64(path, strlen(path), 0x636c65616e696cULL) ^ payload);
}

/* the cil_meta attribute of checkpoint format 2 (see CIL_CKPT_FORMAT in h5internal.h): kind and shape */
uint64_t cil_h5i_meta_hash(const char *kind, int ndim, const uint64_t *dims) {
  unsigned char buf[24 + 8 + 8 * 32] = {0};
  size_t k = strlen(kind);
  if (k > 23) k = 23;
  memcpy(buf, kind, k);
  int64_t nd = ndim;
  memcpy(buf + 24, &nd, 8);
  for (int i = 0; i < ndim && i < 32; i++) memcpy(buf + 32 + 8 * i, &dims[i], 8);
  return cil_hash64(buf, 32 + 8 * (size_t)(ndim < 32 ? ndim : 32), 0x6d657461ULL);
}

/* ------------------------------------------------------------------ resealing (tests, deliberate edits) */
static int attr_u64_put(hid_t obj, const char *name, uint64_t v) {
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  return cil_h5i_attr_i64_set(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}
typedef struct {
  int fmt, bad;
  uint64_t sum, count;
} resealctx;
static herr_t reseal_cb(hid_t root, const char *name, const H5O_info_t *info, void *data) {
  resealctx *c = data;
  char kind[24];
  if (info->type == H5O_TYPE_GROUP) {
    hid_t g = H5Gopen2(root, name, H5P_DEFAULT);
    if (g < 0) { c->bad++; return 0; }
    if (cil_h5i_attr_str_get(g, "cil_kind", kind, sizeof kind) && !strcmp(kind, "buffer") && c->fmt >= 2) {
      int64_t a[5] = {0};
      const char *an[5] = {"capacity", "size", "pos", "obs_dim", "act_dim"};
      for (int i = 0; i < 5; i++) cil_h5i_attr_get(g, an[i], H5T_NATIVE_INT64, &a[i]);
      if (!attr_u64_put(g, "cil_meta", cil_h5i_meta_hash("buffer", 5, (const uint64_t *)a))) c->bad++;
    }
    H5Gclose(g);
    return 0;
  }
  if (info->type != H5O_TYPE_DATASET) return 0;
  hid_t ds = H5Dopen2(root, name, H5P_DEFAULT);
  if (ds < 0) { c->bad++; return 0; }
  if (cil_h5i_attr_str_get(ds, "cil_kind", kind, sizeof kind)) {
    hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds), mt = H5Tget_native_type(t, H5T_DIR_ASCEND);
    int nd = H5Sget_simple_extent_ndims(sp);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    hsize_t d[32] = {0};
    uint64_t d64[32] = {0};
    if (nd >= 0 && nd <= 32) H5Sget_simple_extent_dims(sp, d, NULL);
    for (int i = 0; i < nd && i < 32; i++) d64[i] = d[i];
    size_t esz = mt >= 0 ? H5Tget_size(mt) : 0, bytes = (size_t)(np > 0 ? np : 0) * esz;
    /* the shape first: a shape too big to read is still resealed, so its reader sees it */
    if (c->fmt >= 2 && nd >= 0 && nd <= 32 && !attr_u64_put(ds, "cil_meta", cil_h5i_meta_hash(kind, nd, d64))) c->bad++;
    void *buf = esz && np >= 0 && bytes < ((size_t)1 << 32) ? malloc(bytes ? bytes : 1) : NULL;
    if (buf && (np == 0 || H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)) {
      uint64_t h = cil_hash64(buf, bytes, 0);
      if (!attr_u64_put(ds, "cil_hash", h)) c->bad++;
      c->sum += cil_h5i_entry_mix(name, h);
      c->count++;
    } else {
      c->bad++;
    }
    free(buf);
    if (mt >= 0) H5Tclose(mt);
    H5Tclose(t);
    H5Sclose(sp);
  }
  H5Dclose(ds);
  return 0;
}

int cil_h5_reseal(const char *path) {
  cil_h5i_quiet();
  if (!cil_h5_vet(path)) return 0;
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) {
    const char *m = cil_h5i_msg();
    cil_seterr("reseal %s: cannot open it (%s)", path, m);
    return 0;
  }
  int64_t fmt = 1;
  cil_h5i_attr_get(f, "cil_format", H5T_NATIVE_INT64, &fmt);
  resealctx c = {(int)fmt, 0, 0, 0};
  herr_t st = H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, reseal_cb, &c);
  int ok = st >= 0 && attr_u64_put(f, "cil_checksum", c.sum) && attr_u64_put(f, "cil_count", c.count);
  if (H5Fclose(f) < 0) ok = 0;
  cil_h5i_msg();
  if (!ok || c.bad) {
    cil_seterr("reseal %s: %d objects could not be resealed", path, c.bad + !ok);
    return 0;
  }
  return 1;
}
