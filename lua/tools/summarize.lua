-- Summarize finished runs (their summary.json): one row per (algorithm, task) with the number of seeds,
-- the IQM over seeds of each run's headline score and a 95 % bootstrap confidence interval (runs
-- resampled with replacement, 2000 times, percentile interval, fixed seed), for the D4RL-normalized and
-- the demonstrator-normalized score.
--   cleanil tools/summarize.lua RUN_DIR [RUN_DIR ...] [--markdown]
local cil = require "cleanil"

local dirs, markdown = {}, false
for _, a in ipairs(arg) do
  if a == "--markdown" then markdown = true
  elseif a == "--help" or a:match("^%-%-") then
    print("usage: cleanil tools/summarize.lua RUN_DIR [RUN_DIR ...] [--markdown]")
    if a ~= "--help" then error("summarize: unknown option " .. a, 0) end
    return
  else dirs[#dirs + 1] = a end
end
if #dirs == 0 then error("summarize: give at least one run directory (with a summary.json)", 0) end

-- the flat JSON objects run.finish writes: numbers, strings and arrays of numbers
local function read_summary(dir)
  local f = io.open(dir .. "/summary.json")
  if not f then error("summarize: " .. dir .. " has no summary.json (the run has not finished)", 0) end
  local text = f:read("a")
  f:close()
  local t = {}
  for k, v in text:gmatch('"([%w_]+)":%s*([^,%[%]{}]+)') do
    t[k] = tonumber(v) or v:match('^%s*"(.*)"%s*$')
  end
  if not (t.algo and t.env and t.d4rl_score_iqm) then error("summarize: " .. dir .. "/summary.json is not a run summary", 0) end
  return t
end

local iqm = function(xs) return (cil.run.iqm_std(xs)) end
local function bootstrap_ci(xs, rng)
  if #xs < 2 then return xs[1], xs[1] end
  local stats = {}
  for b = 1, 2000 do
    local s = {}
    for i = 1, #xs do s[i] = xs[rng:random(#xs)] end
    stats[b] = iqm(s)
  end
  table.sort(stats)
  return stats[50], stats[1951]
end

local groups, order = {}, {}
for _, d in ipairs(dirs) do
  local s = read_summary(d)
  local key = s.algo .. " " .. s.env
  if not groups[key] then groups[key] = {algo = s.algo, env = s.env, d4rl = {}, demo = {}, seeds = {}}; order[#order + 1] = key end
  local g = groups[key]
  g.d4rl[#g.d4rl + 1], g.demo[#g.demo + 1], g.seeds[#g.seeds + 1] = s.d4rl_score_iqm, s.demo_score_iqm, s.seed
end

local fmt = markdown and "| %s | %s | %d | %.1f [%.1f, %.1f] | %.1f [%.1f, %.1f] |"
  or "%-8s %-12s %5d   %6.1f [%6.1f, %6.1f]   %6.1f [%6.1f, %6.1f]"
if markdown then
  print("| algorithm | task | seeds | D4RL-normalized IQM [95% CI] | demonstrator-normalized IQM [95% CI] |")
  print("|---|---|---|---|---|")
else
  print(string.format("%-8s %-12s %5s   %-24s   %-24s", "algo", "task", "seeds", "D4RL IQM [95% CI]", "demo IQM [95% CI]"))
end
for _, key in ipairs(order) do
  local g = groups[key]
  local rng = cil.rng(0)
  local dl, dh = bootstrap_ci(g.d4rl, rng)
  local ml, mh = bootstrap_ci(g.demo, rng)
  print(string.format(fmt, g.algo, g.env, #g.d4rl, iqm(g.d4rl), dl, dh, iqm(g.demo), ml, mh))
end
