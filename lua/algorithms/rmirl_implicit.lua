-- RMIRL-implicit: the reward lives in the Q function (IQ-style), with the adversarial model of RMIRL
-- (algorithms.md §3.6, §4.9). Shared parts: lua/cleanil/mbirl.lua (with the demonstrations split 0.9/0.1).
-- Critic: double Q on [ô, a], final layers zero-init, target copy. Per iteration, E = 128 expert rows,
-- M = 128 model rows (their stored actions), TD batch = fresh 128 expert + 128 model rows:
--   no grad: a~_E ~ pi(ô_E), a' ~ pi(ô'),  y = gamma (clip(min Qbar(ô', a'), +-1000) - alpha log pi(a'|ô'))
--   CD  = 1/2 sum_i -(mean Q_i(ô_E, a_E) - mean Q_i(ô_M, a_M))
--   IBC = 1/2 sum_i -(mean Q_i(ô_E, a_E) - mean Q_i(ô_E, a~_E))
--   TD  = 1/2 sum_i mean (Q_i(ô, a) - y)^2 (online Q unclipped)
--   GP  = 1/2 sum_i GP(Q_i; [ô_E, a_E; ô_M, a_M] as both ends; c)
--   L_Q = CD + ibc IBC + td TD + gp GP, critic lr cosine 3e-4 -> 1e-5 over 300 epochs
--   actor: mean(alpha log pi(a~|ô) - min Q(ô, a~)) on the TD batch, alpha 0.1, no grad clipping
--   rollouts 5000 x 20 every 250 (initial d = term(ô)); the adversarial update every 1000 with
--   A = gamma (clip(min Q(ô', a'), +-1000) - alpha log pi(a'|ô')) - clip(min Q(ô, a), +-1000)
--   cleanil algorithms/rmirl_implicit.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("rmirl_implicit", arg, "implicit-reward robust model-based IRL")
if not cfg then return end -- --help
for _, k in ipairs({"update_model_every", "adv_steps", "adv_rollout_steps", "warmup_epochs"}) do
  if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then error(("rmirl_implicit: --%s must be a positive whole number"):format(k), 0) end
end
local M = cil.mbirl.setup(run, cfg, rng, {elites = true, split = true, solver = false})
local O, A, cat, qm = M.O, M.A, M.cat, cfg.q_max
local actor = cil.TanhNormalActor(O, A, cfg.hidden, {activation = cfg.activation, rng = rng})
local critic = cil.nn.DoubleQ(O + A, cfg.hidden, {activation = cfg.activation, rng = rng, zero_last = true})
local critic_target = critic:clone():requires_grad_(false)
local actor_params, critic_params = actor:parameters(), critic:parameters()
local actor_opt = cil.optim.Adam(actor_params, {lr = cfg.lr_actor})
local critic_opt = cil.optim.Adam(critic_params, {lr = cfg.lr_critic})
local model_opt = cil.optim.Adam(M.dyn:parameters(), {lr = cfg.lr_model})
local last, adv_stats = {}, {}
local function half(q) return q:mean(2):sum() * 0.5 end

-- the critic's learning rate after t updates: cosine from lr_critic to lr_critic_min over warmup_epochs
local function critic_lr(t)
  local T = cfg.warmup_epochs * cfg.steps_per_epoch
  if t >= T then return cfg.lr_critic_min end
  return cfg.lr_critic_min + (cfg.lr_critic - cfg.lr_critic_min) * (1 + math.cos(math.pi * t / T)) / 2
end

local function critic_loss(e, m, td)
  local a_e, y = cil.no_grad(function()
    local a2, lp2 = actor(td.next_obs):rsample_with_log_prob(rng)
    return actor(e.obs):sample(rng), (critic_target:minq(cat(td.next_obs, a2)):clamp(-qm, qm) - lp2:reshape(-1, 1) * cfg.alpha) * cfg.gamma
  end)
  local q_e, q_m, q_f = critic(cat(e.obs, e.act)), critic(cat(m.obs, m.act)), critic(cat(e.obs, a_e))
  local cd = -half(q_e - q_m)
  local ibc = -half(q_e - q_f)
  local tdl = half((critic(cat(td.obs, td.act)) - y):square())
  local x = cil.cat({cat(e.obs, e.act), cat(m.obs, m.act)}, 1)
  local gp, gnorm = cil.gradient_penalty_members(critic, 2, x, x, cfg.grad_target, rng)
  local loss = cd + ibc * cfg.ibc_penalty + tdl * cfg.td_penalty + gp * cfg.grad_penalty
  return loss, {critic_loss = loss:item(), critic_cd = cd:item(), critic_ibc = ibc:item(), critic_td = tdl:item(),
    grad_penalty = gp:item(), grad_norm = gnorm:item(), q_expert = q_e:mean():item(), q_transition = q_m:mean():item(),
    q_fake = q_f:mean():item()}
end

local function advantage(o, a, o2)
  local a2, lp2 = actor(o2):rsample_with_log_prob(rng)
  local v2 = critic:minq(cat(o2, a2)):clamp(-qm, qm) - lp2:reshape(-1, 1) * cfg.alpha
  return v2 * cfg.gamma - critic:minq(cat(o, a)):clamp(-qm, qm), v2
end

local function adversarial_update()
  local n = math.min(math.floor(256 * cfg.adv_steps * cfg.sl_ratio), M.transitions:size())
  local b = M.transitions:sample(n, rng)
  adv_stats = cil.adversarial.update(M.dyn, model_opt, {steps = cfg.adv_steps, batch_size = 256,
    rollout_steps = cfg.adv_rollout_steps, adv_penalty = cfg.adv_penalty, grad_clip = cfg.grad_clip, rng = rng,
    actor = actor, deterministic = false, env = cfg.env, mean = M.mean, std = M.std, sticky = true,
    sl = {x = cat(b.obs, b.act):persist(), y = (b.next_obs - b.obs):persist()}, advantage = advantage,
    starts = function(k) return M:starts(k) end})
end

local function step(t)
  if t == 0 or (t + 1) % cfg.rollout_every == 0 then
    last = M:rollout(nil, actor, function(s) return cil.env.termination(cfg.env, s, {mean = M.mean, std = M.std}) end)
  end
  cil.reset()
  local h = cfg.batch_size // 2
  local e = M.experts:sample(h, rng)
  local m = M.model_buf:size() >= h and M.model_buf:sample(h, rng) or M.transitions:sample(h, rng)
  local td = M.model_buf:size() >= h and cil.data.sample_mixed(M.experts, M.model_buf, cfg.batch_size, cfg.real_ratio, rng)
    or M.experts:sample(cfg.batch_size, rng)
  local loss, s = critic_loss(e, m, td)
  cil.optim.minimize(critic_opt, loss, critic_params, cfg.grad_clip)
  critic_opt:lr(critic_lr(t + 1))
  local a, logp = actor(td.obs):rsample_with_log_prob(rng)
  local aloss = (logp:reshape(-1, 1) * cfg.alpha - critic:minq(cat(td.obs, a))):mean()
  cil.optim.minimize(actor_opt, aloss, actor_params)         -- no actor grad clipping, as the reference
  critic_target:polyak_from(critic, cfg.polyak)
  s.actor_loss, s.critic_lr = aloss:item(), critic_opt:lr()
  if (t + 1) % cfg.update_model_every == 0 then adversarial_update() end
  s.model_buffer_size = M.model_buf:size()
  for k, v in pairs(last) do s[k] = v end
  for k, v in pairs(adv_stats) do s["model_" .. k] = v end
  return s
end

if RMIRL_IMPLICIT_TEST then return {critic_lr = critic_lr, cfg = cfg} end
M.loop:train{
  actor = actor, step = step,
  log_extra = function(row)
    local g = cil.rng(cil.run.eval_seed(cfg, row.step) + 17)
    row.train_act_logp, row.train_act_mae = cil.offline.probe(actor, M.expert_data, g)
    row.eval_act_logp, row.eval_act_mae = cil.offline.probe(actor, M.eval_data, g)
    row.transition_act_logp, row.transition_act_mae = cil.offline.probe(actor, M.transition_data, g)
  end,
  state = function() return {actor = actor:state_dict(), critic = critic:state_dict(), critic_target = critic_target:state_dict(),
    actor_opt = actor_opt:state(), critic_opt = critic_opt:state(), model = M.dyn:state_dict(),
    scaler_mean = M.dyn.scaler_mean, scaler_std = M.dyn.scaler_std, model_opt = model_opt:state()} end,
  extra_checkpoint = function() return {model_buffer = M.model_buf} end,
  load = function(s, ck)
    actor:load_state_dict(s.actor, "rmirl_implicit actor"); critic:load_state_dict(s.critic, "rmirl_implicit critic")
    critic_target:load_state_dict(s.critic_target, "rmirl_implicit critic_target")
    actor_opt:load_state(s.actor_opt); critic_opt:load_state(s.critic_opt)
    critic_opt:lr(critic_lr(ck.state.step))                   -- the schedule's value at the checkpoint
    M.dyn:load_state_dict(s.model, "rmirl_implicit model"); M.dyn.scaler_mean:copy_(s.scaler_mean)
    M.dyn.scaler_std:copy_(s.scaler_std); model_opt:load_state(s.model_opt)
    M.model_buf = ck.model_buffer
  end,
}
