-- Shared by the Lua benchmarks: timing loop and the JSON line (same keys as bench/torch_common.py).
local M = {}
function M.args() return tonumber(arg[1] or 1), tonumber(arg[2] or 3) end
-- updates per second: warm-up, then the median of 5 timed repeats of `seconds`/5 each
function M.measure(step, seconds)
  for _ = 1, 10 do step() end
  local rates = {}
  for r = 1, 5 do
    local n, t0 = 0, cil.sys.clock()
    repeat step(); n = n + 1 until cil.sys.clock() - t0 > seconds / 5
    rates[r] = n / (cil.sys.clock() - t0)
  end
  table.sort(rates)
  return rates[3], rates[1], rates[5]
end
-- FLOPs of linear layers over `dims` on `rows` rows; f(i) = passes for layer i (1 fwd, +1 wgrad, +1 igrad)
function M.lin(dims, rows, f)
  local s = 0
  for i = 1, #dims - 1 do s = s + 2 * rows * dims[i] * dims[i + 1] * f(i) end
  return s
end
-- JSON line. Two ceilings, both measured here at 256x256x256 on the same thread count:
--   roofline_fraction   = our GFLOP/s / OpenBLAS cblas_sgemm's (the definition in performance.md)
--   own_kernel_fraction = our GFLOP/s / our own GEMM kernel's (engine/core/gemm.c; the real ceiling of
--                         this CPU where that kernel beats OpenBLAS; equal to the first otherwise)
local ceilings
function M.emit(name, threads, rate, lo, hi, flop)
  ceilings = ceilings or {blas = cil.sys.sgemm_gflops(256, 256, 256, 1.0, false, false, "openblas"),
    own = cil.sys.sgemm_gflops(256, 256, 256, 1.0, false, false, "cleanil")}
  local gf = flop and rate * flop / 1e9 or 0
  print(string.format('{"bench": "%s", "impl": "cleanil", "threads": %d, "per_s": %.2f, "min": %.2f, "max": %.2f, "gflop": %.4f, "gflops": %.2f, "sgemm_gflops": %.2f, "roofline_fraction": %.3f, "own_gemm_gflops": %.2f, "own_kernel_fraction": %.3f, "gemm": "%s"}',
    name, threads, rate, lo, hi, (flop or 0) / 1e9, gf, ceilings.blas, flop and gf / ceilings.blas or 0,
    ceilings.own, flop and gf / math.max(ceilings.own, ceilings.blas) or 0, cil.sys.gemm_impl()))
end
return M
