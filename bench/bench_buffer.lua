-- Replay buffer and dataset loading, against the PyTorch baselines, in one run.
--   1. sampling 256-row batches (obs 17, act 6, rew, next_obs, done) from a 1M-row buffer, rows/s:
--      buf:sample (new arena tensors, cil.reset() every 64 batches) and buf:sample_into (preallocated);
--      baseline bench/torch_buffer.py (torch.randint + index_select on 5 tensors).
--   2. loading a 400k-transition D4RL-layout file (gzip, as D4RL ships them), seconds:
--      cil.data.load_d4rl vs bench/bench_buffer_h5py.py (h5py -> numpy -> torch).
-- usage: cleanil bench/bench_buffer.lua [seconds=3] [--no-torch]
-- Single thread on both sides. Prints JSON lines, then a summary with ratios (ours / torch).
if not cil.data.to_buffer then require("cleanil.data")(cil) end
local seconds = tonumber(arg[1]) or 3
local with_torch = not (arg[1] == "--no-torch" or arg[2] == "--no-torch")
local clock = cil.sys and cil.sys.clock or os.clock
local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
cil.set_num_threads(1)

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end
-- rate of fn (which returns units done) : median of 5 repeats of seconds/5 each
local function measure(fn, warm)
  for _ = 1, warm do fn() end
  local rates = {}
  for _ = 1, 5 do
    local n, t0 = 0, clock()
    repeat n = n + fn() until clock() - t0 > seconds / 5
    rates[#rates + 1] = n / (clock() - t0)
  end
  return median(rates)
end

-- ---------------------------------------------------------------- sampling
local N, B, OD, AD = 1000000, 256, 17, 6
local g = cil.rng(0)
local buf = cil.ReplayBuffer(N, OD, AD)
for _ = 1, N / 10000 do
  local c = 10000
  buf:add(cil.randn(g, c, OD), cil.uniform(g, -1, 1, c, AD), cil.randn(g, c), cil.randn(g, c, OD),
          cil.rand(g, c):lt(0.01))
  cil.reset()
end
local calls = 0
local sample_rate = measure(function()
  buf:sample(B, g)
  calls = calls + 1
  if calls % 64 == 0 then cil.reset() end
  return B
end, 200)
cil.reset()
local out = {obs = cil.persistent(B, OD), act = cil.persistent(B, AD), rew = cil.persistent(B, 1),
             next_obs = cil.persistent(B, OD), done = cil.persistent(B, 1)}
local into_rate = measure(function() buf:sample_into(out, g) return B end, 200)
print(string.format('{"bench": "buffer_sample", "impl": "cleanil", "threads": 1, "per_s": %.0f, "unit": "rows", "batch": %d}', sample_rate, B))
print(string.format('{"bench": "buffer_sample_into", "impl": "cleanil", "threads": 1, "per_s": %.0f, "unit": "rows", "batch": %d}', into_rate, B))
buf = nil
collectgarbage()

-- ---------------------------------------------------------------- loading
local M = 400000
local path = os.tmpname() .. ".hdf5"
do
  local d = {observations = cil.randn(g, M, OD):persist(), actions = cil.uniform(g, -1, 1, M, AD):persist(),
             rewards = cil.randn(g, M):persist(), next_observations = cil.randn(g, M, OD):persist()}
  d.terminals = cil.rand(g, M):lt(0.001):persist()
  d.timeouts = cil.zeros(M):persist()
  cil.reset()
  local t0 = clock()
  cil.data.save_d4rl(path, d, {compression = 4})
  print(string.format('{"bench": "d4rl_save", "impl": "cleanil", "seconds": %.4f, "rows": %d, "gzip": 4}', clock() - t0, M))
end
collectgarbage()
local times = {}
for _ = 1, 3 do
  local t0 = clock()
  local d = cil.data.load_d4rl(path)
  times[#times + 1] = clock() - t0
  assert(#d.observations == M)
  d = nil
  collectgarbage()
end
local load_s = median(times)
print(string.format('{"bench": "d4rl_load", "impl": "cleanil", "seconds": %.4f, "rows": %d}', load_s, M))

-- ---------------------------------------------------------------- baselines
local function run_json(cmd, key)
  local p = io.popen(cmd .. " 2>/dev/null")
  local s = p:read("a")
  p:close()
  local v
  for line in s:gmatch("[^\n]+") do
    v = tonumber(line:match('"' .. key .. '": ([%d%.e+-]+)')) or v
    if line:match("^{") then print(line) end
  end
  return v
end
local torch_rate, torch_load
if with_torch then
  torch_rate = run_json(("cd %s && /usr/bin/python3 torch_buffer.py --torch-threads 1 --blas-threads 1 --seconds %g")
    :format(here, seconds), "per_s")
  torch_load = run_json(("/usr/bin/python3 %s/bench_buffer_h5py.py %s"):format(here, path), "seconds")
end
os.remove(path)

print("\nsummary (1 thread)")
print(string.format("  sample 256 of 1M rows   cleanil %10.3g rows/s   sample_into %10.3g rows/s   torch %s",
  sample_rate, into_rate, torch_rate and string.format("%10.3g rows/s   ratio %.2fx / %.2fx", torch_rate,
  sample_rate / torch_rate, into_rate / torch_rate) or "(not run)"))
print(string.format("  load 400k-row gzip file cleanil %8.3f s          h5py+torch %s", load_s,
  torch_load and string.format("%.3f s   speed-up %.2fx", torch_load, torch_load / load_s) or "(not run)"))
