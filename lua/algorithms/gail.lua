-- GAIL (Wasserstein-style critic with a gradient penalty) with SAC as the policy learner
-- (algorithms.md §4.6). Per env step after the warm-up:
--   reward:  L_R = -(mean R(x_E) - mean R(x_pi)) + 10 GP(R; x_E, x_pi, 1) + 1e-5 l2(R)
--   policy:  a SAC update on 128 expert + 128 own rows, every reward relabelled r := R(x)
--   cleanil algorithms/gail.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("gail", arg, "adversarial imitation learning with a SAC policy")
if not cfg then return end -- --help
if math.type(cfg.reward_steps) ~= "integer" or cfg.reward_steps < 0 then
  error("gail: --reward_steps must be a whole number >= 0 (0 = a fixed reward, never trained)", 0)
end
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim

local demos = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs, {rule = cfg.expert_rule, env = cfg.env})
local experts = cil.data.to_buffer(demos)
local sac = cil.SAC(O, A, cfg, rng)
local reward = cil.RewardModel(O, A, {use_done = cfg.use_done, max_reward = cfg.max_reward,
  hidden = cfg.hidden, activation = cfg.activation, rng = rng})
local reward_params = reward:parameters()
local reward_opt = cil.optim.Adam(reward_params, {lr = cfg.lr_reward})
local loop = cil.online.Loop(run, cfg, rng)

local function x_of(b) return reward:inputs(b.obs, b.act, b.done) end

local function reward_step()
  local xe = x_of(experts:sample(cfg.batch_size, rng))
  local xp = x_of(loop:sample(cfg.batch_size))
  local gp, gnorm = cil.gradient_penalty(reward, xe, xp, cfg.grad_target, rng)
  local l2 = cil.l2(reward_params)
  local re, rp = reward(xe), reward(xp)
  local adv = -(re:mean() - rp:mean())
  local loss = adv + gp * cfg.grad_penalty + l2 * cfg.l2_penalty
  reward_opt:zero_grad()
  loss:backward({inputs = reward_params})
  cil.optim.clip_grad_norm(reward_params, cfg.grad_clip)
  reward_opt:step()
  -- logged as the reference does: reward_loss is the adversarial term alone, the others beside it
  return {reward_loss = adv:item(), reward_total_loss = loss:item(), grad_penalty = gp:item(), grad_norm = gnorm:item(), l2 = l2:item(),
    reward_abs = cil.no_grad(function() return 0.5 * (re:abs():mean():item() + rp:abs():mean():item()) end)}
end

-- logged with each evaluation (algorithms.md §2.9): how well the policy explains the expert's actions on
-- 1000 expert rows sampled afresh: mean log pi(a|o) and mean |a_sample - a|. Its draws come from a
-- generator seeded by the step, never from the training one, so training is unchanged
local function expert_fit(step)
  local g = cil.rng(cil.run.eval_seed(cfg, step) + 17)
  local b = experts:sample(1000, g)
  return cil.no_grad(function()
    local pi = sac.actor(b.obs)
    return pi:log_prob(b.act):mean():item(), (pi:sample(g) - b.act):abs():mean():item()
  end)
end

local function policy_step()
  local b = cil.data.sample_mixed(experts, loop.buffer, cfg.batch_size, cfg.real_ratio, rng)
  b.rew = cil.no_grad(function() return reward(x_of(b)) end)  -- relabel every row
  return sac:update(b)
end

loop:train{
  actor = sac.actor,
  store_reward = function(r) return r * 0 end,                  -- the agent never sees env rewards
  learn = function()
    local s = {}
    for _ = 1, cfg.reward_steps do s = reward_step() end
    for k, v in pairs(policy_step()) do s[k] = v end
    return s
  end,
  log_extra = function(s, step)
    s.train_act_logp, s.train_act_mae = expert_fit(step)
    return s
  end,
  extra_state = function()
    return {sac = sac:state(), reward = reward:state_dict(), reward_opt = reward_opt:state()}
  end,
  load_extra = function(s)
    sac:load_state(s.sac)
    reward:load_state_dict(s.reward)
    reward_opt:load_state(s.reward_opt)
  end,
}

cil.checkpoint.save(run.dir .. "/policy.h5", {actor = sac.actor:state_dict(), step = loop.S.step})
cil.run.finish(run, loop.S.evals, demos.demo_return or demos.path, loop)
