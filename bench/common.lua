-- Shared by the Lua benchmarks: timing loop and the JSON line (same keys as bench/torch_common.py).
local M = {}
-- CLEANIL_PRECISION=bf16 runs every GEMM of the benchmark in bfloat16 (float32 sums; cil.set_precision),
-- as --precision=bf16 does in a run; the JSON line says which precision ran ("fp32" where the CPU lacks
-- AVX512-BF16 and bf16 fell back)
-- CLEANIL_NOGRAD_PRECISION=bf16 only the no-gradient GEMMs (rollouts, relabelling), as --nograd_precision
function M.args()
  local p, ng = os.getenv("CLEANIL_PRECISION"), os.getenv("CLEANIL_NOGRAD_PRECISION")
  if p == "" then p = nil end
  if ng == "" then ng = nil end
  if p or ng then cil.set_precision(p or "fp32", ng and {no_grad = ng} or nil) end
  return tonumber(arg[1] or 1), tonumber(arg[2] or 3)
end
-- benchmarks that run an algorithm file's own step pass the precision on as its command line would
-- (the algorithm's config sets the GEMM precision and would undo M.args' setting): append these to arg
function M.precision_args(list)
  local p, ng = os.getenv("CLEANIL_PRECISION"), os.getenv("CLEANIL_NOGRAD_PRECISION")
  if p and p ~= "" then list[#list + 1] = "--precision=" .. p end
  if ng and ng ~= "" then list[#list + 1] = "--nograd_precision=" .. ng end
  return list
end
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
--                         this CPU where that kernel beats OpenBLAS; equal to the first otherwise); under
--                         CLEANIL_PRECISION=bf16 the own ceiling is our bf16 GEMM's 256^3 rate)
-- FLOPs of one SAC update as we run it (algorithms.md §2.4; no critic weight grads in the actor step, no
-- first-layer input grads): pi(o') and both Qbar no grad, both Q fwd+bwd, pi fwd+bwd, both Q into a~
function M.sac_flop(O, A, rows)
  local Ad, Qd = {O, 256, 256, 256, 2 * A}, {O + A, 256, 256, 256, 1}
  local fwd, full = function() return 1 end, function(i) return i == 1 and 2 or 3 end
  return M.lin(Ad, rows, fwd) + 2 * M.lin(Qd, rows, fwd) + 2 * M.lin(Qd, rows, full) + M.lin(Ad, rows, full)
    + 2 * M.lin(Qd, rows, function() return 2 end)
end
-- FLOPs of E ensemble members (3 x 200) on `rows` rows each; f as in M.lin
function M.ens_flop(O, A, D, E, rows, f)
  return E * M.lin({O + A, 200, 200, 200, 2 * D}, rows, f or function() return 1 end)
end
-- FLOPs of a reward step on 256 + 256 rows with the gradient penalty on 256 (in = reward MLP input width):
-- 2 x 256 fwd+bwd, GP: fwd + recorded input grad + backward through both (~ 2x fwd+bwd)
function M.reward_step_flop(inp, rows)
  local dims = {inp, 256, 256, 256, 1}
  return 2 * M.lin(dims, rows, function(i) return i == 1 and 2 or 3 end) + 2 * M.lin(dims, rows, function() return 3 end)
end
local ceilings
-- extra: optional {key = number, ...} appended to the JSON line (sorted by key)
function M.emit(name, threads, rate, lo, hi, flop, extra)
  ceilings = ceilings or {blas = cil.sys.sgemm_gflops(256, 256, 256, 1.0, false, false, "openblas"),
    own = cil.sys.sgemm_gflops(256, 256, 256, 1.0, false, false, "cleanil")}
  local gf = flop and rate * flop / 1e9 or 0
  print(string.format('{"bench": "%s", "impl": "cleanil", "threads": %d, "per_s": %.2f, "min": %.2f, "max": %.2f, "gflop": %.4f, "gflops": %.2f, "sgemm_gflops": %.2f, "roofline_fraction": %.3f, "own_gemm_gflops": %.2f, "own_kernel_fraction": %.3f, "gemm": "%s", "gemm_isa": "%s", "precision": "%s", "nograd_precision": "%s"}',
    name, threads, rate, lo, hi, (flop or 0) / 1e9, gf, ceilings.blas, flop and gf / ceilings.blas or 0,
    ceilings.own, flop and gf / math.max(ceilings.own, ceilings.blas) or 0, cil.sys.gemm_impl(), select(2, cil.sys.gemm_impl()),
    cil.precision()):sub(1, -2)
    .. M.extra_keys(extra) .. "}")
end
function M.extra_keys(extra)
  local keys, out = {}, {}
  for k in pairs(extra or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do out[#out + 1] = string.format(', "%s": %.6g', k, extra[k]) end
  return table.concat(out)
end
return M
