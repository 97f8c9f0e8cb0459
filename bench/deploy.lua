-- Deploying a trained policy through the Lua actor (the path cil.run.evaluate takes): single-
-- observation latency, deterministic and sampled, and batch throughput; the work of
-- bench/c/deploy_bench.c (the C API) and bench/torch_deploy.py. Each call resets the graph arena and
-- runs the actor on one row (or BATCH rows) of 1024 fixed observations.
--   cleanil bench/deploy.lua [THREADS] [SECONDS] [POLICY] [BATCH]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
cil.set_num_threads(threads)
local path = arg[3] or (CLEANIL_LUA_DIR .. "/../data/hopper/expert_policy.h5")
local batch = tonumber(arg[4] or 256)
local p = cil.policy.load(path, "hopper")
local actor, input = p.actor, p.input
local obs = cil.uniform(cil.rng(1), -1, 1, 1024, p.spec.obs_dim):persist()
local rng = cil.rng(1)
local k = 0
local function det()
  k = k % 1024 + 1
  cil.reset()
  return actor:act_deterministic(input(obs:rows(k, k)))
end
local function sampled()
  k = k % 1024 + 1
  cil.reset()
  return cil.no_grad(function() return actor(input(obs:rows(k, k))):sample(rng) end)
end
local function batched()
  cil.reset()
  return actor:act_deterministic(input(obs:rows(1, batch)))
end
-- as bench/common.lua's measure (warm-up, median of 5 blocks), plus the rate per CPU-second (os.clock)
local function measure(step)
  for _ = 1, 50 do step() end
  local rates, cpu = {}, {}
  for r = 1, 5 do
    local n, t0, c0 = 0, cil.sys.clock(), os.clock()
    repeat step(); n = n + 1 until cil.sys.clock() - t0 > seconds / 5
    rates[r], cpu[r] = n / (cil.sys.clock() - t0), n / math.max(os.clock() - c0, 1e-9)
  end
  table.sort(rates); table.sort(cpu)
  return rates[3], rates[1], rates[5], cpu[3]
end
local function emit(mode, rows, rate, lo, hi, cpu)
  print(string.format('{"bench": "%s", "impl": "lua", "mode": "%s", %s"per_s": %.1f, "min": %.1f, "max": %.1f, "per_cpu_s": %.1f, "us_per_call": %.3f}',
    rows > 1 and "deploy_batch" or "deploy_single", mode, rows > 1 and ('"batch": %d, '):format(rows) or "",
    rate * rows, lo * rows, hi * rows, cpu * rows, 1e6 / rate))
end
emit("deterministic", 1, measure(det))
emit("sampled", 1, measure(sampled))
emit("deterministic", batch, measure(batched))
