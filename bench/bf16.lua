-- bfloat16 GEMMs (issue 25): the core's peak in this process -- a register-only loop of vdpbf16ps
-- against one of vfmadd231ps (GFLOP/s; a vdpbf16ps counts 64 flops, 2 per bf16 product, as the issue
-- counts them) -- and GEMM rates in float32 and bf16 at 256x256x256 and at the SAC update's shapes
-- (batch 256, hidden 256, inputs 11-23: the observation alone for the actor, observation + action for
-- the critics). Each figure is the best of 3 runs of seconds/30 (best: the least disturbed by other
-- processes). Shapes with fewer than 16 output columns or k = 1 run float32 in both modes (thin paths).
-- usage: cleanil bench/bf16.lua [threads] [seconds]
local threads, seconds = tonumber(arg[1] or 1), tonumber(arg[2] or 3)
cil.set_num_threads(threads)
local per = seconds / 30
local _, _, supported = cil.precision()
local function best(f)
  local b = 0
  for _ = 1, 3 do b = math.max(b, f() or 0) end
  return b
end

local pb = best(function() return cil.sys.peak_gflops("bf16", per) end)
local pf = best(function() return cil.sys.peak_gflops("fma", per) end)
print(string.format('{"bench": "bf16_peak", "threads": 1, "bf16_gflops": %.1f, "fma_gflops": %.1f, "ratio": %.3f, "bf16_supported": %s}',
  pb, pf, pf > 0 and pb / pf or 0, tostring(supported)))

-- {m, n, k, transA, transB, what}: C[m,n] = op(A)[m,k] op(B)[k,n]
local shapes = {
  {256, 256, 256, false, false, "256^3 NN"},
  {256, 256, 256, false, true, "256^3 NT (hidden layer forward, x W^T)"},
  {256, 256, 256, true, false, "256^3 TN (hidden layer weight grad, g^T x)"},
}
for _, d in ipairs({11, 14, 17, 23}) do
  shapes[#shapes + 1] = {256, 256, d, false, true, "first layer forward, in " .. d}
  shapes[#shapes + 1] = {256, d, 256, true, false, "first layer weight grad, in " .. d}
  shapes[#shapes + 1] = {256, d, 256, false, false, "first layer input grad, in " .. d}
end
shapes[#shapes + 1] = {256, 1, 256, false, true, "critic head forward (thin)"}
shapes[#shapes + 1] = {256, 6, 256, false, true, "actor head forward, 2 x 3 (thin)"}
print(string.format("%-44s %8s %8s %6s", "GEMM (m x n x k), " .. threads .. " thread(s)", "fp32", "bf16", "ratio"))
for _, s in ipairs(shapes) do
  local m, n, k, ta, tb, what = table.unpack(s)
  cil.set_precision("fp32")
  local f = best(function() return cil.sys.sgemm_gflops(m, n, k, per, ta, tb) end)
  cil.set_precision("bf16")
  local b = best(function() return cil.sys.sgemm_gflops(m, n, k, per, ta, tb) end)
  cil.set_precision("fp32")
  print(string.format("%-44s %8.1f %8.1f %6.2f", string.format("%dx%dx%d %s", m, n, k, what), f, b, b / f))
  print(string.format('{"bench": "bf16_gemm", "threads": %d, "m": %d, "n": %d, "k": %d, "ta": %s, "tb": %s, "fp32_gflops": %.2f, "bf16_gflops": %.2f, "ratio": %.3f}',
    threads, m, n, k, tostring(ta), tostring(tb), f, b, b / f))
end
