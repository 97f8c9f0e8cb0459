-- Pick the expert of a SAC data run (protocol.md, data/README.md): the first kept actor whose 50
-- sampled-action episodes reach D4RL's expert-v2 level with at most `max_falls` falls (hopper, walker2d).
--   cleanil tools/pick_expert.lua RUN_DIR --env=ENV [--level=RETURN] [--max_falls=1]
-- Reads RUN_DIR/policies/index.csv (written by algorithms/sac.lua at every checkpoint); prints the
-- measurements and the collect command for the chosen actor.
local cil = require "cleanil"
local LEVEL = {halfcheetah = 10656.4, hopper = 3511.4, walker2d = 4920.5} -- data/README.md, D4RL expert-v2
local dir, opt = nil, {env = "", level = "", max_falls = "1"}
for _, a in ipairs(arg) do
  local k, v = a:match("^%-%-([%w_]+)=(.*)$")
  if k then
    if opt[k] == nil then error("pick_expert: unknown option --" .. k .. " (env, level, max_falls)", 0) end
    opt[k] = v
  else dir = a end
end
if not dir or opt.env == "" then error("pick_expert: usage: cleanil tools/pick_expert.lua RUN_DIR --env=ENV", 0) end
local level = tonumber(opt.level) or LEVEL[opt.env] or error("pick_expert: no D4RL level known for " .. opt.env, 0)
local max_falls = math.tointeger(tonumber(opt.max_falls)) or error("pick_expert: --max_falls must be a whole number", 0)
if opt.env == "halfcheetah" then max_falls = math.huge end   -- it cannot fall
local cols, _, n = cil.run.read_log(dir .. "/policies/index.csv")
local pick
for r = 1, n do
  local ok = cols.return_mean[r] >= level and cols.falls[r] <= max_falls
  print(string.format("step %8d  %8.1f +- %6.1f  falls %2d/%d  D4RL %6.1f%s", cols.step[r], cols.return_mean[r],
    cols.return_std[r], cols.falls[r], cols.episodes[r], cols.d4rl_score[r], ok and "  <- qualifies" or ""))
  if ok and not pick then pick = cols.step[r] end
end
if not pick then
  print(string.format("no kept actor reaches %.1f with at most %s falls yet", level, tostring(max_falls)))
  os.exit(1)
end
local actor = string.format("%s/policies/actor-%07d.h5", dir, pick)
print(string.format("expert: step %d (%s)\n  cp %s data/%s/expert_policy.h5\n  cleanil tools/collect.lua --policy=data/%s/expert_policy.h5 --env=%s --episodes=50 --seed=1 --out=data/%s/expert.h5",
  pick, actor, actor, opt.env, opt.env, opt.env, opt.env))
