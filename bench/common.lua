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
function M.emit(name, threads, rate, lo, hi, flop)
  local roof = cil.sys.sgemm_gflops(256, 256, 256, 1.0)
  local gf = flop and rate * flop / 1e9 or 0
  print(string.format('{"bench": "%s", "impl": "cleanil", "threads": %d, "per_s": %.2f, "min": %.2f, "max": %.2f, "gflop": %.4f, "gflops": %.2f, "sgemm_gflops": %.2f, "roofline_fraction": %.3f}',
    name, threads, rate, lo, hi, (flop or 0) / 1e9, gf, roof, flop and gf / roof or 0))
end
return M
