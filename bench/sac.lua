-- One full SAC update (algorithms.md §2.4), hopper sizes (obs 11, act 3), batch 256, sampled from a
-- 100k-row random in-memory buffer -- the same work as bench/torch_sac.py.
-- usage: cleanil bench/sac.lua [threads] [seconds]
local threads, seconds = tonumber(arg[1] or 1), tonumber(arg[2] or 3)
cil.set_num_threads(threads)
cil.manual_seed(0)
local N, O, A, B = 100000, 11, 3, 256
local buf = {obs = cil.randn(N, O):persist(), act = (cil.rand(N, A) * 2 - 1):persist(),
  rew = cil.randn(N, 1):persist(), next_obs = cil.randn(N, O):persist(),
  done = cil.rand(N, 1):lt(0.01):persist()}
local sac = cil.SAC(O, A, {}, cil.rng(0))
local rng = cil.rng(1)
local function update()
  cil.reset()
  local idx = cil.randint(rng, 1, N, B)
  local b = {}
  for k, t in pairs(buf) do b[k] = t:index_select(1, idx) end
  sac:update(b)
end
for _ = 1, 20 do update() end
local n, t0 = 0, cil.sys.clock()
repeat
  for _ = 1, 5 do update() end
  n = n + 5
until cil.sys.clock() - t0 > seconds
local rate = n / (cil.sys.clock() - t0)
-- FLOPs we actually run: no critic weight grads in the actor step, no first-layer input grads
local function lin(d, rows, f) local s = 0; for i = 1, #d - 1 do s = s + 2 * rows * d[i] * d[i + 1] * f(i) end; return s end
local Ad, Qd = {O, 256, 256, 256, 2 * A}, {O + A, 256, 256, 256, 1}
local flop = lin(Ad, B, function() return 1 end) + 2 * lin(Qd, B, function() return 1 end)
  + 2 * lin(Qd, B, function(i) return i == 1 and 2 or 3 end)
  + lin(Ad, B, function(i) return i == 1 and 2 or 3 end)
  + 2 * lin(Qd, B, function() return 2 end)
local roof = cil.sys.sgemm_gflops(256, 256, 256, 1.0)
print(string.format('{"bench": "sac_update", "impl": "cleanil", "threads": %d, "per_s": %.2f, "gflop": %.3f, "gflops": %.2f, "sgemm_gflops": %.2f, "roofline_fraction": %.3f}',
  threads, rate, flop / 1e9, rate * flop / 1e9, roof, rate * flop / 1e9 / roof))
