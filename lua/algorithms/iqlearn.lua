-- IQ-Learn, offline, from demonstrations alone (chi^2 inverse soft-Q + an AWR actor; algorithms.md
-- §2.7, §4.3). Double Q on [ô, a] with a polyak target; reward 0; per iteration one batch of expert
-- rows (ô, a_E, ô', d0 = 0):
--   no grad:  a~ ~ pi(ô),  a' ~ pi(ô'),  y = gamma (min Qbar(ô', a') - alpha log pi(a'|ô'))
--   CD = 1/2 sum_i -(mean Q_i(ô, a_E) - mean Q_i(ô, a~))       (contrastive)
--   TD = 1/2 sum_i mean (Q_i(ô, a_E) - y)^2
--   GP = 1/2 sum_i GP(Q_i; [ô, a_E], [ô, a~]; c)                (independent beta per net)
--   L_Q = (1 - td) CD + td TD + gp GP + l2 l2(critic)
--   actor: AWR with noise on half of the expert actions, alpha = 0.1 fixed; then polyak
--   cleanil algorithms/iqlearn.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("iqlearn", arg, "offline IQ-Learn from expert demonstrations")
if not cfg then return end -- --help
local loop = cil.offline.Loop(run, cfg, rng)
local spec = cil.env.spec(cfg.env)
local net = {activation = cfg.activation, rng = rng}
local actor = cil.TanhNormalActor(spec.obs_dim, spec.act_dim, cfg.hidden, net)
local critic = cil.nn.DoubleQ(spec.obs_dim + spec.act_dim, cfg.hidden, net)
local critic_target = critic:clone():requires_grad_(false)
local actor_params, critic_params = actor:parameters(), critic:parameters()
local actor_opt = cil.optim.Adam(actor_params, {lr = cfg.lr_actor})
local critic_opt = cil.optim.Adam(critic_params, {lr = cfg.lr_critic})
local function cat(o, a) return cil.cat({o, a}, 2) end

-- the critic loss and its terms on a batch b = {obs, act, next_obs} (exposed for the tests)
local function critic_loss(b)
  local a_pi, y = cil.no_grad(function()
    local a_pi = actor(b.obs):sample(rng)
    local a2, logp2 = actor(b.next_obs):rsample_with_log_prob(rng)
    return a_pi, (critic_target:minq(cat(b.next_obs, a2)) - logp2:reshape(-1, 1) * cfg.alpha) * cfg.gamma
  end)
  local xe, xp = cat(b.obs, b.act), cat(b.obs, a_pi)
  local qe, qp = critic(xe), critic(xp)                    -- [2, B, 1]
  local cd = -(qe:mean(2) - qp:mean(2)):sum() * 0.5
  local td = (qe - y):square():mean(2):sum() * 0.5
  local gp, gnorm = cil.gradient_penalty_members(critic, 2, xe, xp, cfg.grad_target, rng)
  local loss = cd * (1 - cfg.td_penalty) + td * cfg.td_penalty + gp * cfg.grad_penalty
  if cfg.l2_penalty > 0 then loss = loss + cil.l2(critic_params) * cfg.l2_penalty end
  return loss, {critic_loss = loss:item(), critic_cd = cd:item(), critic_td = td:item(), grad_penalty = gp:item(),
    grad_norm = gnorm:item(), q_expert = qe:mean():item(), q_policy = qp:mean():item()}
end

local function step()
  local b = loop.buffer:sample(cfg.batch_size, rng)
  local loss, stats = critic_loss(b)
  cil.optim.minimize(critic_opt, loss, critic_params, cfg.grad_clip)
  local a_bar = cil.awr.noisy_actions(b.act, cfg.action_noise, rng)
  local aloss, astats = cil.awr.actor_loss(actor, critic, b.obs, a_bar, cfg.alpha, rng)
  cil.optim.minimize(actor_opt, aloss, actor_params, cfg.grad_clip)
  critic_target:polyak_from(critic, cfg.polyak)
  stats.actor_loss = aloss:item()
  for k, v in pairs(astats) do stats[k] = v end
  return stats
end

if IQLEARN_TEST then return {critic_loss = critic_loss, actor = actor, critic = critic, critic_target = critic_target, cfg = cfg, rng = rng, step = step} end
loop:train{
  actor = actor, step = step,
  state = function() return {actor = actor:state_dict(), critic = critic:state_dict(),
    critic_target = critic_target:state_dict(), actor_opt = actor_opt:state(), critic_opt = critic_opt:state()} end,
  load = function(s)
    actor:load_state_dict(s.actor, "iqlearn actor"); critic:load_state_dict(s.critic, "iqlearn critic")
    critic_target:load_state_dict(s.critic_target, "iqlearn critic_target")
    actor_opt:load_state(s.actor_opt); critic_opt:load_state(s.critic_opt)
  end,
}
