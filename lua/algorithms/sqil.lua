-- SQIL: soft Q imitation learning (Reddy, Dragan, Levine 2019) with SAC as the soft-Q learner.
-- Expert rows carry reward 1, the agent's own rows reward 0; every SAC batch is half expert, half agent:
--   r(o, a) = 1 for (o, a) in the demonstrations, 0 for the agent's transitions; SAC update §2.4
-- The environment's reward is never seen (it is only logged, as train/eval return).
--   cleanil algorithms/sqil.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("sqil", arg, "soft Q imitation learning (SAC, reward 1 on expert rows, 0 on own rows)")
if not cfg then return end -- --help

-- 1. data: N expert episodes (observations raw, as the online loop sees them), every reward set to 1
local demos = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs,
  {rule = cfg.expert_rule, env = cfg.env})
demos.rewards:fill_(1)
local experts = cil.data.to_buffer(demos)

-- 2. learner and loop: a SAC learner; the online loop owns the env, the agent's buffer and resume
local spec = cil.env.spec(cfg.env)
local sac = cil.SAC(spec.obs_dim, spec.act_dim, cfg, rng)
local loop = cil.online.Loop(run, cfg, rng)

-- 3. one update: expert_ratio of the batch from the demonstrations (r = 1), the rest from the buffer (r = 0)
local function learn()
  local b = cil.data.sample_mixed(experts, loop.buffer, cfg.batch_size, cfg.expert_ratio, rng)
  return sac:update(b)
end

-- logged with each evaluation: how well the policy explains the expert's actions (1000 rows, own generator)
local function expert_fit(stats, step)
  local g = cil.rng(cil.run.eval_seed(cfg, step) + 17)
  local b = experts:sample(1000, g)
  cil.no_grad(function()
    local pi = sac.actor(b.obs)
    stats.train_act_logp = pi:log_prob(b.act):mean():item()
    stats.train_act_mae = (pi:sample(g) - b.act):abs():mean():item()
  end)
  return stats
end

if SQIL_TEST then return {experts = experts, sac = sac, loop = loop} end -- tests/lua/new_algos_spec.lua
-- 4. train: the loop calls learn() every step after the warm-up, evaluates each epoch, checkpoints
loop:train{
  actor = sac.actor,
  store_reward = function(r) return r * 0 end,       -- own rows: reward 0
  learn = learn,
  log_extra = expert_fit,
  extra_state = function() return {sac = sac:state()} end,
  load_extra = function(s) sac:load_state(s.sac) end,
}

-- 5. the policy and the run's headline (summary.json)
cil.checkpoint.save(run.dir .. "/policy.h5", {actor = sac.actor:state_dict(), step = loop.S.step})
cil.run.finish(run, loop.S.evals, demos.demo_return or demos.path, loop)
