-- Measure shipped data files and print the rows of data/README.md's "Measured" table:
-- datasets: rows, complete episodes, episode return mean +- std (exact, from the file);
-- policy files: 10 stochastic episodes rolled out with seed 1 (as tools/collect.lua --seed=1).
--   cleanil tools/datainfo.lua data/hopper/expert.h5 data/hopper/expert_policy.h5 ...
-- tests/lua/shipped_data_spec.lua re-measures every row of that table the same way.
local cil = require "cleanil"
local args = {...}

local function size_mb(path)
  local f = assert(io.open(path, "rb"))
  local n = f:seek("end")
  f:close()
  return n / 1e6
end
local function commas(n)
  local s = tostring(math.tointeger(n) or n)
  repeat
    local k
    s, k = s:gsub("^(%d+)(%d%d%d)", "%1,%2")
  until k == 0
  return s
end

local M = {}
-- {rows=, episodes=, mean=, std=} of a dataset file, or of 10 rollouts of a policy file
function M.measure(path)
  local env = path:match("([%w_]+)/[^/]+$")
  if path:match("_policy%.h5$") then
    local p = cil.policy.load(path, env)
    local m, s = cil.run.mean_std(cil.policy.rollout(p, {episodes = 10, seed = 1}))
    return {episodes = 10, mean = m, std = s, size = size_mb(path), policy = true}
  end
  local d = cil.data.load_d4rl(path)
  local returns = cil.data.episode_returns(d)
  local m, s = cil.run.mean_std(returns)
  return {rows = cil.data.num_rows(d), episodes = #returns, mean = m, std = s, size = size_mb(path)}
end
function M.row(path)
  local r = M.measure(path)
  local name = path:match("([%w_]+/[^/]+)$")
  return string.format("| `%s` | %s | %s | %.1f ± %.1f | %.1f MB |", name, r.policy and "—" or commas(r.rows),
    r.policy and "10 rollouts" or commas(r.episodes), r.mean, r.std, r.size)
end

if args[1] == "--module" then return M end -- loadfile(...)("--module") gives the functions (the test)
if #args == 0 or args[1] == "--help" then
  print("usage: cleanil tools/datainfo.lua FILE.h5 [FILE.h5 ...]   (files under data/<env>/)")
  return
end
for _, path in ipairs(args) do print(M.row(path)) end
