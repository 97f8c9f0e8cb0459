/* Lua bindings of the GEMM precision settings (engine/core/gemm_bf16.c):
 *   cil.set_precision("fp32" | "bf16" [, {no_grad = "fp32" | "bf16"}])
 *       every GEMM in that precision; no_grad (default: the same as the first argument) is the precision
 *       of GEMMs run under cil.no_grad (evaluation, relabelling, model rollouts, targets). bf16 rounds the
 *       operands of a GEMM to bfloat16 and sums in float32; everything else stays float32. Without
 *       AVX512-BF16 bf16 runs float32 (one line on stderr). Returns the previous settings as precision().
 *   cil.precision() -> precision, no_grad_precision, supported   (the effective settings: "fp32" where
 *       bf16 was asked for but the CPU lacks it; supported = this CPU runs the bf16 kernel)
 * and a measurement helper for bench/bf16.lua:
 *   cil.sys.peak_gflops("bf16" | "fma", seconds) -> GFLOP/s of a register-only loop of vdpbf16ps (64
 *       flops per instruction: 32 bf16 products, each a multiply and an add) or vfmadd231ps (32 flops) on
 *       zmm registers -- on ymm registers (16 flops) where the CPU has AVX2 + FMA but no AVX-512 --, one
 *       thread; nil where the CPU lacks the instruction */
#include <immintrin.h>
#include <string.h>
#include "../engine/core/internal.h"
#include "lcil.h"

static const char *const prec_names[] = {"fp32", "bf16", NULL};

static int push_precision(lua_State *L) {
  lua_pushstring(L, prec_names[cil_gemm_precision()]);
  lua_pushstring(L, prec_names[cil_gemm_nograd_precision()]);
  lua_pushboolean(L, cil_gemm_bf16_supported());
  return 3;
}
static int l_precision(lua_State *L) { return push_precision(L); }
static int l_set_precision(lua_State *L) {
  int p = luaL_checkoption(L, 1, NULL, prec_names), ng = p;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "no_grad");
    if (!lua_isnil(L, -1)) ng = luaL_checkoption(L, -1, NULL, prec_names);
    lua_pop(L, 1);
    /* a bf16 run's no-grad GEMMs are bf16 too: a float32 no_grad under it is not a setting we have */
    if (p == CIL_BF16 && ng != CIL_BF16)
      return cil_lua_raise(L, "set_precision: no_grad = \"fp32\" under precision \"bf16\" is not supported "
                              "(no-grad GEMMs follow a bf16 precision)");
  }
  int n = push_precision(L);
  cil_set_gemm_precision(p);
  cil_set_gemm_nograd_precision(ng);
  return n;
}

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 10 || defined(__clang__))
#define PEAK_CHAINS 16 /* independent accumulators: enough to cover the latency of two pipes */
__attribute__((target("avx512f,avx512bf16"), noinline)) static double peak_bf16(double secs, float *sink) {
  __m512 acc[PEAK_CHAINS];
  for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_setzero_ps();
  __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f)), b = a;
  long iters = 0;
  double t0 = cil_now(), t;
  do {
    for (int r = 0; r < 4096; r++) {
#pragma GCC unroll 16
      for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
      __asm__ volatile("" : "+v"(a)); /* keep the loop: a might have changed */
    }
    iters += 4096;
    t = cil_now() - t0;
  } while (t < secs);
  __m512 s = acc[0];
  for (int i = 1; i < PEAK_CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
  *sink = _mm512_reduce_add_ps(s);
  return (double)iters * PEAK_CHAINS * 64 / t / 1e9;
}
__attribute__((target("avx512f,fma"), noinline)) static double peak_fma(double secs, float *sink) {
  __m512 acc[PEAK_CHAINS];
  for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_setzero_ps();
  __m512 a = _mm512_set1_ps(1e-3f), b = a;
  long iters = 0;
  double t0 = cil_now(), t;
  do {
    for (int r = 0; r < 4096; r++) {
#pragma GCC unroll 16
      for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_fmadd_ps(a, b, acc[i]);
      __asm__ volatile("" : "+v"(a));
    }
    iters += 4096;
    t = cil_now() - t0;
  } while (t < secs);
  __m512 s = acc[0];
  for (int i = 1; i < PEAK_CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
  *sink = _mm512_reduce_add_ps(s);
  return (double)iters * PEAK_CHAINS * 32 / t / 1e9;
}
/* the same loop on ymm registers (16 flops per instruction), for CPUs with AVX2 + FMA only */
#define PEAK_CHAINS8 12 /* 12 of the 16 ymm registers: more would spill */
__attribute__((target("avx2,fma"), noinline)) static double peak_fma256(double secs, float *sink) {
  __m256 acc[PEAK_CHAINS8];
  for (int i = 0; i < PEAK_CHAINS8; i++) acc[i] = _mm256_setzero_ps();
  __m256 a = _mm256_set1_ps(1e-3f), b = a;
  long iters = 0;
  double t0 = cil_now(), t;
  do {
    for (int r = 0; r < 4096; r++) {
#pragma GCC unroll 12
      for (int i = 0; i < PEAK_CHAINS8; i++) acc[i] = _mm256_fmadd_ps(a, b, acc[i]);
      __asm__ volatile("" : "+x"(a));
    }
    iters += 4096;
    t = cil_now() - t0;
  } while (t < secs);
  __m256 s = acc[0];
  for (int i = 1; i < PEAK_CHAINS8; i++) s = _mm256_add_ps(s, acc[i]);
  float v[8];
  _mm256_storeu_ps(v, s);
  *sink = v[0];
  return (double)iters * PEAK_CHAINS8 * 16 / t / 1e9;
}
static int l_peak_gflops(lua_State *L) {
  static const char *const kinds[] = {"bf16", "fma", NULL};
  int kind = luaL_checkoption(L, 1, NULL, kinds);
  double secs = luaL_optnumber(L, 2, 1.0);
  if (!(secs > 0 && secs <= 60)) return luaL_error(L, "peak_gflops: seconds must be in (0, 60], got %f", secs);
  float sink = 0;
  int zmm = __builtin_cpu_supports("avx512f"), ymm = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (kind == 0 ? !cil_gemm_bf16_supported() : !(zmm || ymm)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, kind == 0 ? peak_bf16(secs, &sink) : zmm ? peak_fma(secs, &sink) : peak_fma256(secs, &sink));
  return 1;
}
#else
static int l_peak_gflops(lua_State *L) {
  lua_pushnil(L);
  return 1;
}
#endif

void cil_open_precision(lua_State *L) {
  lua_pushcfunction(L, l_set_precision);
  lua_setfield(L, -2, "set_precision");
  lua_pushcfunction(L, l_precision);
  lua_setfield(L, -2, "precision");
  lua_getfield(L, -1, "sys"); /* made by cil_open_bench */
  if (lua_istable(L, -1)) {
    lua_pushcfunction(L, l_peak_gflops);
    lua_setfield(L, -2, "peak_gflops");
  }
  lua_pop(L, 1);
}
