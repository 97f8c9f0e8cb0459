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

local spec = cil.env.spec(opt.env)
local actor = cil.TanhNormalActor(spec.obs_dim, spec.act_dim, hidden, {activation = opt.activation})
-- a policy file ({actor = ...}) or a training checkpoint of sac/gail ({learner = {sac = {actor = ...}}})
local ck = cil.checkpoint.load(opt.policy)
local weights = ck.actor or (ck.learner and ck.learner.sac and ck.learner.sac.actor) or (ck.sac and ck.sac.actor)
if not weights then error("collect: " .. opt.policy .. " holds no actor (expected 'actor' or 'learner.sac.actor')", 0) end
actor:load_state_dict(weights, "collect: policy " .. opt.policy)
-- a policy trained on normalized observations (BC, IQ-Learn, ...) stores its statistics with it
local obs_mean, obs_std = ck.obs_mean, ck.obs_std
local function policy_input(o) return obs_mean and (o - obs_mean) / obs_std or o end
local rng = cil.rng(tonumber(opt.seed))
local env = cil.env.make(opt.env, {num_envs = 1, seed = tonumber(opt.seed)})

local cols = {o = {}, a = {}, o2 = {}, r = {}, term = {}, tout = {}, qpos = {}, qvel = {}, logp = {}}
local returns = {}
for ep = 1, N do
  local obs = env:reset_one(1, rng:random(2 ^ 31 - 1)):reshape(1, spec.obs_dim):persist()
  local R = 0
  for t = 1, 1000 do
    cil.reset()
    local qpos, qvel = env:qpos(1), env:qvel(1)
    local d = cil.no_grad(function() return actor(policy_input(obs)) end)
    local a = (opt.deterministic == "true" and d:mode() or d:sample(rng)):persist()
    local lp = cil.no_grad(function() return d:log_prob(a) end)
    local o2, r, term = env:step(a)
    local n = #cols.o + 1
    cols.o[n], cols.a[n], cols.o2[n] = obs, a, o2
    cols.r[n], cols.term[n] = r[1], term[1]
    cols.tout[n] = (t == 1000 and term[1] == 0) and 1 or 0
    cols.qpos[n], cols.qvel[n], cols.logp[n] = qpos:reshape(1, -1):persist(), qvel:reshape(1, -1):persist(), lp[1]
    R = R + r[1]
    if term[1] > 0 then break end
    obs = o2
  end
  returns[ep] = R
  io.write(string.format("\repisode %d/%d return %.1f", ep, N, R)); io.flush()
end
print()
local mean, sd = 0, 0
for _, R in ipairs(returns) do mean = mean + R / N end
for _, R in ipairs(returns) do sd = sd + (R - mean) ^ 2 / math.max(N - 1, 1) end
sd = math.sqrt(sd)
cil.run.mkdir_p(out:match("^(.*)/[^/]*$") or ".")
cil.data.save_d4rl(out, {
  observations = cil.cat(cols.o, 1), actions = cil.cat(cols.a, 1), next_observations = cil.cat(cols.o2, 1),
  rewards = cil.tensor(cols.r), terminals = cil.tensor(cols.term), timeouts = cil.tensor(cols.tout),
  infos = {qpos = cil.cat(cols.qpos, 1), qvel = cil.cat(cols.qvel, 1), action_log_probs = cil.tensor(cols.logp)},
  metadata = {algorithm = "SAC", policy = opt.policy, episodes = N, seed = tonumber(opt.seed),
    source = "cleanil tools/collect.lua"},
})
print(string.format("%s: %d episodes, %d transitions, return %.1f +- %.1f (D4RL score %.1f)", out, N, #cols.o,
  mean, sd, cil.env.normalized_score(opt.env, mean)))
