/* Lua bindings: measurement helpers for bench/ (sgemm roofline, wall clock, resident memory). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../engine/core/internal.h"
#include "lcil.h"

static int l_clock(lua_State *L) {
  lua_pushnumber(L, cil_now());
  return 1;
}
/* sgemm_gflops(m, n, k, seconds [, transA, transB [, impl]]): GFLOP/s of C[m,n] = A[m,k] B[k,n] at the
 * current thread count; impl "openblas" or "cleanil" (our AVX-512 kernel) picks the SGEMM, default: the
 * one cleanil uses */
static int l_sgemm_gflops(lua_State *L) {
  int m = (int)luaL_checkinteger(L, 1), n = (int)luaL_checkinteger(L, 2), k = (int)luaL_checkinteger(L, 3);
  double secs = luaL_optnumber(L, 4, 1.0);
  int ta = lua_toboolean(L, 5), tb = lua_toboolean(L, 6); /* optional: transpose A / B */
  static const char *const impls[] = {"openblas", "cleanil", "default", NULL};
  int impl = luaL_checkoption(L, 7, "default", impls);
  luaL_argcheck(L, m > 0 && n > 0 && k > 0 && m * (double)k < 1e8 && k * (double)n < 1e8, 1, "bad sizes");
  float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
  for (int i = 0; i < m * k; i++) a[i] = (float)(i % 7) * 0.1f;
  for (int i = 0; i < k * n; i++) b[i] = (float)(i % 5) * 0.1f;
  int lda = ta ? m : k, ldb = tb ? k : n;
  int prev = impl == 2 ? -1 : cil_gemm_use_own(impl);
  for (int w = 0; w < 3; w++) cil_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
  long iters = 0;
  double t0 = cil_now(), t;
  do {
    for (int r = 0; r < 10; r++) cil_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
    iters += 10;
    t = cil_now() - t0;
  } while (t < secs);
  if (prev >= 0) cil_gemm_use_own(prev);
  free(a);
  free(b);
  free(c);
  lua_pushnumber(L, 2.0 * m * n * (double)k * iters / t / 1e9);
  return 1;
}
/* mlp_blocked_passes(): how many cil.mlp_forward calls ran in row blocks so far (tests: the path is taken) */
static int l_mlp_blocked(lua_State *L) {
  lua_pushinteger(L, cil_mlp_blocked_passes());
  return 1;
}
/* gemm_impl() -> "cleanil" when our GEMM kernel is in use, else "openblas"; and the kernel compiled in:
 * "avx512", "avx2" or "none" */
static int l_gemm_impl(lua_State *L) {
  int on = cil_gemm_use_own(1);
  cil_gemm_use_own(on);
  lua_pushstring(L, on ? "cleanil" : "openblas");
  lua_pushstring(L, cil_gemm_own_isa());
  return 2;
}
/* rss_bytes(): resident set size of this process */
static int l_rss(lua_State *L) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  lua_pushinteger(L, (lua_Integer)rss * sysconf(_SC_PAGESIZE));
  return 1;
}
/* listdir(dir) -> {names} (without . and ..), or nil, message */
static int l_listdir(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  DIR *d = opendir(dir);
  if (!d) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", dir, strerror(errno));
    return 2;
  }
  lua_newtable(L);
  int i = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, ++i);
  }
  closedir(d);
  return 1;
}
/* pid_alive(pid): whether a process with this id exists; getpid() */
static int l_pid_alive(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  lua_pushboolean(L, pid > 0 && pid <= 0x7fffffff && (kill((pid_t)pid, 0) == 0 || errno == EPERM));
  return 1;
}
static int l_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}
/* flush_subnormals([on]) -> whether subnormal floats are flushed to zero (default true; fpenv.c); with
 * a boolean, sets it for every thread of the engine first */
static int l_flush_subnormals(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    cil_set_flush_subnormals(lua_toboolean(L, 1));
  }
  lua_pushboolean(L, cil_get_flush_subnormals());
  return 1;
}
void cil_open_bench(lua_State *L) {
  static const luaL_Reg fns[] = {{"clock", l_clock}, {"sgemm_gflops", l_sgemm_gflops}, {"rss_bytes", l_rss},
                                 {"gemm_impl", l_gemm_impl}, {"mlp_blocked_passes", l_mlp_blocked}, {"listdir", l_listdir},
                                 {"pid_alive", l_pid_alive}, {"getpid", l_getpid},
                                 {"flush_subnormals", l_flush_subnormals}, {NULL, NULL}};
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  lua_setfield(L, -2, "sys");
}
