-- Roll out a trained actor and save its episodes in the D4RL layout (expert demonstrations).
-- Actions are sampled from the stochastic policy, as D4RL's expert data.
--   cleanil tools/collect.lua --policy=runs/sac-hopper-seed0/policy.h5 --env=hopper --episodes=50
--                             [--out=data/hopper/expert.h5] [--seed=1] [--deterministic]
local cil = require "cleanil"
local opt = {policy = "", env = "", episodes = "50", out = "", seed = "1", hidden = "256,256,256",
  activation = "silu", deterministic = "false"}
for _, a in ipairs(arg) do
  local k, v = a:match("^%-%-([%w_]+)=?(.*)$")
  if not k or opt[k] == nil then error("collect: unknown argument " .. a .. " (see the header of tools/collect.lua)", 0) end
  opt[k] = v == "" and "true" or v
end
if opt.policy == "" or opt.env == "" then error("collect: --policy=FILE and --env=NAME are required", 0) end
local N = math.tointeger(tonumber(opt.episodes)) or error("collect: --episodes must be an integer", 0)
local out = opt.out ~= "" and opt.out or cil.data_path(opt.env, "expert.h5")
local hidden = {}
for h in opt.hidden:gmatch("%d+") do hidden[#hidden + 1] = tonumber(h) end

local p = cil.policy.load(opt.policy, opt.env, {hidden = hidden, activation = opt.activation})
local cols = {o = {}, a = {}, o2 = {}, r = {}, term = {}, tout = {}, qpos = {}, qvel = {}, logp = {}}
local returns = cil.policy.rollout(p, {episodes = N, seed = tonumber(opt.seed), progress = true,
  deterministic = opt.deterministic == "true", on_step = function(t)
    local n = #cols.o + 1
    cols.o[n], cols.a[n], cols.o2[n], cols.r[n], cols.term[n] = t.obs, t.action, t.next_obs, t.reward, t.terminated
    cols.tout[n], cols.qpos[n], cols.qvel[n], cols.logp[n] = t.timeout, t.qpos, t.qvel, t.log_prob
  end})
local mean, sd = cil.run.mean_std(returns)
-- provenance that means something on another machine: the policy file's name (its path when given
-- relative to the project, e.g. data/hopper/expert_policy.h5; else its base name) and its checksum
local policy_name = (opt.policy:sub(1, 1) ~= "/" and not opt.policy:find("..", 1, true)) and opt.policy
  or opt.policy:match("[^/]+$")
local sh = io.popen("sha256sum '" .. opt.policy:gsub("'", "'\\''") .. "' 2>/dev/null")
local policy_sha = sh and (sh:read("l") or ""):match("^(%x+)") or ""
if sh then sh:close() end
cil.run.mkdir_p(out:match("^(.*)/[^/]*$") or ".")
cil.data.save_d4rl(out, {
  observations = cil.cat(cols.o, 1), actions = cil.cat(cols.a, 1), next_observations = cil.cat(cols.o2, 1),
  rewards = cil.tensor(cols.r), terminals = cil.tensor(cols.term), timeouts = cil.tensor(cols.tout),
  infos = {qpos = cil.cat(cols.qpos, 1), qvel = cil.cat(cols.qvel, 1), action_log_probs = cil.tensor(cols.logp)},
  metadata = {algorithm = "SAC", policy = policy_name, policy_sha256 = policy_sha, episodes = N, seed = tonumber(opt.seed),
    source = "cleanil tools/collect.lua"},
})
print(string.format("%s: %d episodes, %d transitions, return %.1f +- %.1f (D4RL score %.1f)", out, N, #cols.o,
  mean, sd, cil.env.normalized_score(opt.env, mean)))
