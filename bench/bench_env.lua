-- Lua-side cost of cil.env: env:step called from a Lua loop (tensor in, tensors out) vs the same
-- number of env steps with the C engine alone (measured by bench_env.c). Prints env steps/s.
local cil = require "cleanil"
local function bench(name, n, threads)
  local env = cil.env.make(name, { num_envs = n, seed = 1, threads = threads, max_episode_steps = 0 })
  local rng = cil.rng(3)
  local acts = {}
  for s = 1, 50 do acts[s] = rng:uniform(-1, 1, n, env.act_dim):persist() end
  local best = math.huge
  for _ = 1, 5 do
    local t0 = os.clock()
    local w0 = os.time()
    for s = 1, 200 do env:step(acts[(s - 1) % 50 + 1]) end
    local t = os.clock() - t0
    if t < best then best = t end
  end
  return 200 * n / best
end
print("Lua loop over env:step (CPU time; env steps/s):")
for _, name in ipairs({ "hopper", "walker2d", "halfcheetah" }) do
  for _, n in ipairs({ 1, 8, 32 }) do
    print(string.format("%-12s N=%-3d %10.0f", name, n, bench(name, n, 1)))
  end
end
