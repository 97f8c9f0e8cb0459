/* Vetting an HDF5 file before this process parses it.
 *
 * libhdf5 1.10 (Debian's) trusts the object headers it decodes: a crafted or bit-flipped datatype,
 * layout or attribute message can make it copy past a buffer and crash, whatever the caller checks
 * afterwards (a resealed, single-bit-flipped checkpoint did, in H5Dopen2). So every file is first
 * walked in a forked child: every object opened, every attribute and dataset read, every datatype
 * and dataspace queried, as the readers here will. If libhdf5 crashes or hangs there, the parent
 * gets a clear error naming the file instead of dying; a file the child walks cleanly is then read
 * by the parent as before. The child never writes to the file and leaves with _exit, so nothing of
 * the parent (buffers, atexit handlers, open files) is touched.
 *
 * The outcome is remembered per (device, inode, size, modification time): a file opened again
 * (a dataset read column by column) is vetted once. */
#include "h5io.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/tensor.h"

#define VET_BLOCK ((size_t)64 << 20) /* the child reads datasets in slabs of at most this many bytes */

/* ---------------------------------------------------------------- the child's walk */
static int vet_type(hid_t t) {
  if (t < 0) return 0;
  H5T_class_t cl = H5Tget_class(t);
  if (cl < 0 || H5Tget_size(t) == 0) return 0;
  if (cl == H5T_ENUM || cl == H5T_COMPOUND) {
    int n = H5Tget_nmembers(t);
    if (n < 0) return 0;
    for (int i = 0; i < n; i++) {
      char *name = H5Tget_member_name(t, (unsigned)i);
      if (!name) return 0;
      H5free_memory(name);
      if (cl == H5T_COMPOUND) {
        hid_t m = H5Tget_member_type(t, (unsigned)i);
        int ok = vet_type(m);
        if (m >= 0) H5Tclose(m);
        if (!ok) return 0;
      }
    }
  }
  if (cl == H5T_ARRAY || cl == H5T_VLEN || cl == H5T_ENUM) {
    hid_t s = H5Tget_super(t);
    int ok = vet_type(s);
    if (s >= 0) H5Tclose(s);
    if (!ok) return 0;
  }
  hid_t nt = H5Tget_native_type(t, H5T_DIR_ASCEND);
  if (nt < 0) return 0;
  H5Tclose(nt);
  return 1;
}

static int vet_space(hid_t s, int *nd, hsize_t *dims) {
  if (s < 0) return 0;
  *nd = H5Sget_simple_extent_ndims(s);
  if (*nd < 0 || *nd > H5S_MAX_RANK) return 0;
  if (H5Sget_simple_extent_dims(s, dims, NULL) < 0) return 0;
  return H5Sget_simple_extent_npoints(s) >= 0;
}

/* The walk's calls may fail (the readers report that, in their own words): only a crash or a hang is a
 * verdict, so nothing here counts failures; a failed step only skips what depends on it. */
static herr_t vet_attr(hid_t obj, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  (void)data;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return 0;
  hid_t t = H5Aget_type(a), s = H5Aget_space(a);
  int nd;
  hsize_t dims[H5S_MAX_RANK];
  if (vet_type(t) && vet_space(s, &nd, dims)) {
    hid_t nt = H5Tget_native_type(t, H5T_DIR_ASCEND);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    size_t es = H5Tget_size(nt);
    if (np >= 0 && es && (size_t)np <= VET_BLOCK / es) {
      void *buf = calloc((size_t)np + 1, es);
      if (buf) H5Aread(a, nt, buf);
      free(buf); /* variable-length parts leak: the child ends soon */
    }
    H5Tclose(nt);
  }
  if (t >= 0) H5Tclose(t);
  if (s >= 0) H5Sclose(s);
  H5Aclose(a);
  return 0;
}

/* read a dataset in slabs along its first dimension */
static int vet_read(hid_t ds, hid_t t, hid_t fs, int nd, const hsize_t *dims) {
  hid_t nt = H5Tget_native_type(t, H5T_DIR_ASCEND);
  if (nt < 0) return 0;
  size_t es = H5Tget_size(nt), row = es;
  for (int i = 1; i < nd; i++) {
    if (dims[i] && row > SIZE_MAX / dims[i]) { H5Tclose(nt); return 0; }
    row *= dims[i];
  }
  int ok = 1;
  if (nd == 0 || row == 0 || dims[0] == 0) {
    if (nd == 0) {
      void *buf = calloc(1, es);
      ok = buf && H5Dread(ds, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
      free(buf);
    }
    H5Tclose(nt);
    return ok;
  }
  hsize_t per = row >= VET_BLOCK ? 1 : VET_BLOCK / row;
  void *buf = malloc(row * (size_t)(per < dims[0] ? per : dims[0]));
  if (!buf) { H5Tclose(nt); return 1; } /* too big to hold here: the parent's reader decides */
  hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
  for (int i = 0; i < nd; i++) count[i] = dims[i];
  for (hsize_t r = 0; ok && r < dims[0]; r += per) {
    start[0] = r;
    count[0] = dims[0] - r < per ? dims[0] - r : per;
    hid_t ms = H5Screate_simple(nd, count, NULL);
    ok = ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
         H5Dread(ds, nt, ms, fs, H5P_DEFAULT, buf) >= 0;
    if (ms >= 0) H5Sclose(ms);
  }
  free(buf);
  H5Tclose(nt);
  return ok;
}

static herr_t vet_obj(hid_t root, const char *name, const H5O_info_t *info, void *data) {
  (void)data;
  hid_t o = H5Oopen(root, name, H5P_DEFAULT);
  if (o < 0) return 0;
  H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, NULL, vet_attr, NULL);
  if (info->type == H5O_TYPE_DATASET) {
    hid_t t = H5Dget_type(o), s = H5Dget_space(o), p = H5Dget_create_plist(o);
    int nd;
    hsize_t dims[H5S_MAX_RANK];
    if (p >= 0 && vet_type(t) && vet_space(s, &nd, dims)) vet_read(o, t, s, nd, dims);
    if (p >= 0) H5Pclose(p);
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
  }
  H5Oclose(o);
  return 0;
}

/* the signals that end a walk as a verdict: a crash, or the alarm of a hang */
static const int verdict_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM};
#define NVERDICT ((int)(sizeof verdict_sigs / sizeof *verdict_sigs))

static void vet_child(const char *path, unsigned seconds) {
  /* a crash is this process's verdict, not a sanitizer's report (a sanitizer's own handler would print
   * one and exit with status 1, which counts too): default actions, and nothing on the terminal */
  for (int i = 0; i < NVERDICT; i++) signal(verdict_sigs[i], SIG_DFL);
  int devnull = open("/dev/null", O_WRONLY);
  if (devnull >= 0) dup2(devnull, 2);
  alarm(seconds); /* a walk that hangs ends as SIGALRM */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) _exit(0); /* an open that fails cleanly: the parent's own open reports it */
  H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, vet_obj, NULL);
  H5Fclose(f);
  _exit(0);
}

/* ---------------------------------------------------------------- the parent */
typedef struct {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
} vetkey;
static vetkey vetted[32];
static int nvetted = 0, next_slot = 0;

static int same(const vetkey *a, const struct stat *st) {
  return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
         a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

int cil_h5_vet(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return 1; /* the caller's open reports it */
  for (int i = 0; i < nvetted; i++)
    if (same(&vetted[i], &st)) return 1;
  /* generous: a few seconds for small files, one more per 20 MB (the walk reads every byte once) */
  unsigned seconds = 30 + (unsigned)(st.st_size / (20 << 20));
  fflush(NULL); /* nothing buffered is written twice */
  pid_t pid = fork();
  if (pid < 0) return 1; /* cannot fork (a process limit): read it unvetted, as before */
  if (pid == 0) vet_child(path, seconds);
  int status = 0;
  pid_t w;
  do w = waitpid(pid, &status, 0);
  while (w < 0 && errno == EINTR);
  if (w < 0) return 1;
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status), verdict = 0;
    for (int i = 0; i < NVERDICT; i++) verdict |= sig == verdict_sigs[i];
    if (!verdict) return 1; /* stopped from outside (a job's SIGTERM reaches every process): not a verdict */
    if (sig == SIGALRM)
      cil_seterr("cannot open %s: the HDF5 file is damaged (libhdf5 did not finish reading its structure in "
                 "%u s; truncated or corrupt?)", path, seconds);
    else
      cil_seterr("cannot open %s: the HDF5 file is damaged (libhdf5 crashed reading its structure, %s, in a "
                 "separate check process; truncated or corrupt?)", path, strsignal(sig));
    return 0;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) { /* the walk ends only with _exit(0) */
    cil_seterr("cannot open %s: the HDF5 file is damaged (libhdf5 failed reading its structure in a separate "
               "check process, which ended with status %d; truncated or corrupt?)", path, WEXITSTATUS(status));
    return 0;
  }
  vetted[next_slot] = (vetkey){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
  next_slot = (next_slot + 1) % 32;
  if (nvetted < 32) nvetted++;
  return 1;
}
