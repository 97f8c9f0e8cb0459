-- AIRL: adversarial inverse RL (Fu, Luo, Levine 2018) with SAC as the policy learner.
-- Shaped discriminator on transitions (o, a, o', d):
--   f(o, a, o') = g(o, a) + gamma (1 - d) h(o') - h(o),   D = exp f / (exp f + pi(a|o)),  logit D = f - log pi(a|o)
--   L_D = -mean log D(x_E) - mean log(1 - D(x_pi)) + l2_penalty l2(g, h)    (log pi: the current actor, no grad)
--   policy: a SAC update on expert_ratio expert + own rows relabelled r = log D - log(1 - D) = f - log pi
--           (reward_logpi = false: r = f, leaving the entropy term to SAC alone), or, by default, its
--           positive form softplus(r) = -log(1 - D) (reward_positive: see configs/airl/common.lua)
--   cleanil algorithms/airl.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("airl", arg, "adversarial inverse RL (shaped discriminator) with a SAC policy")
if not cfg then return end -- --help
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim

local demos = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs, {rule = cfg.expert_rule, env = cfg.env})
local experts = cil.data.to_buffer(demos)
local sac = cil.SAC(O, A, cfg, rng)
local net = {activation = cfg.activation, rng = rng}
local g = cil.nn.MLP(O + A, cfg.hidden_reward, 1, net)        -- reward approximator g(o, a)
local h = cil.nn.MLP(O, cfg.hidden_reward, 1, net)            -- shaping potential h(o)
local disc_params = g:parameters()
for _, p in ipairs(h:parameters()) do disc_params[#disc_params + 1] = p end
local disc_opt = cil.optim.Adam(disc_params, {lr = cfg.lr_reward})
local loop = cil.online.Loop(run, cfg, rng)

-- f(o, a, o') and the logit of D on a batch {obs, act, next_obs, done}
local function f_of(b)
  return g(cil.cat({b.obs, b.act}, 2)) + (1 - b.done) * h(b.next_obs) * cfg.gamma - h(b.obs)
end
local function logit_of(b)
  local logp = cil.no_grad(function() return sac.actor(b.obs):log_prob(b.act):reshape(-1, 1) end)
  return f_of(b) - logp, logp
end

local function disc_step()
  local le = logit_of(experts:sample(cfg.batch_size, rng))
  local lp = logit_of(loop:sample(cfg.batch_size))
  -- -log sigmoid(z) = softplus(-z),  -log(1 - sigmoid(z)) = softplus(z)
  local loss = (-le):softplus():mean() + lp:softplus():mean() + cil.l2(disc_params) * cfg.l2_penalty
  local v = cil.optim.minimize(disc_opt, loss, disc_params, cfg.grad_clip)
  return {disc_loss = v, d_expert = le:sigmoid():mean():item(), d_agent = lp:sigmoid():mean():item()}
end

local function policy_step()
  local b = cil.data.sample_mixed(experts, loop.buffer, cfg.batch_size, cfg.expert_ratio, rng)
  b.rew = cil.no_grad(function()
    local z = cfg.reward_logpi and logit_of(b) or f_of(b)
    if cfg.reward_positive then z = z:softplus() end
    return z:clamp(-cfg.max_reward, cfg.max_reward)
  end)
  local s = sac:update(b)
  s.reward_mean = b.rew:mean():item()
  return s
end

if AIRL_TEST then return {f_of = f_of, logit_of = logit_of, g = g, h = h, sac = sac, experts = experts} end -- tests
loop:train{
  actor = sac.actor,
  store_reward = function(r) return r * 0 end,                   -- the agent never sees env rewards
  learn = function()
    local s = {}
    for _ = 1, cfg.reward_steps do s = disc_step() end
    for k, v in pairs(policy_step()) do s[k] = v end
    return s
  end,
  extra_state = function()
    return {sac = sac:state(), g = g:state_dict(), h = h:state_dict(), disc_opt = disc_opt:state()}
  end,
  load_extra = function(s)
    sac:load_state(s.sac)
    g:load_state_dict(s.g, "airl g"); h:load_state_dict(s.h, "airl h")
    disc_opt:load_state(s.disc_opt)
  end,
}

cil.checkpoint.save(run.dir .. "/policy.h5", {actor = sac.actor:state_dict(), step = loop.S.step})
cil.checkpoint.save(run.dir .. "/reward.h5", {g = g:state_dict(), h = h:state_dict(), step = loop.S.step})
cil.run.finish(run, loop.S.evals, demos.demo_return or demos.path, loop)
