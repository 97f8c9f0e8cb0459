-- RECOIL-online: expert demonstrations + the agent's own replay (algorithms.md §4.5). Observations
-- are normalized with the expert train split's statistics, in training and evaluation; replay rows
-- carry reward 0. Critic input z(ô, a, f) = [(1 - f) [ô, a], f]; Q clipped to +-q_max in every loss;
-- final layers zero-init. Per env step (after the warm-up), E = 128 expert rows, T = 128 replay rows:
--   no grad:  a~_E ~ pi(ô_E), a~_T ~ pi(ô_T), a' ~ pi(ô') on D = E u T,  y = gamma (min Qbar(z(ô', a', d)) - alpha log pi)
--   IBC = 1/2 sum_i -(mean Q_i(z(ô_E, a_E, d_E)) - mean Q_i(z(ô_E, a~_E, d_E)))
--   CD  = 1/2 sum_i -(mean Q_i(z(ô_E, a_E, d_E)) - mean Q_i(z(ô_T, a~_T, d_T)))
--   TD  = 1/2 sum_i mean_D (Q_i(z(ô, a, 0)) - y)^2
--   GP  = 1/2 sum_i GP(Q_i MLP; [ô_E, a_E, 0; ô_T, a~_T, 0] as both ends; c = 200)
--   L_Q = (1 - td) [0.1 IBC + 0.9 CD] + td TD + 10 GP
--   actor: L_pi = mean(alpha log pi(a~|ô) - min Q(z(ô, a~, 0))) on [ô_E; ô_T], alpha = 0.1 fixed
-- The reference's script raises a TypeError on its first actor update (one argument too many); this is
-- the evident intent: the actor loss with the Q clip (README, deviations).
--   cleanil algorithms/recoil_online.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("recoil_online", arg, "RECOIL-online: demonstrations + own replay")
if not cfg then return end -- --help
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim
local demos = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs, {rule = cfg.expert_rule, env = cfg.env})
local train, held_out = cil.data.train_test_split(demos, cfg.train_ratio, rng)
local mean, std = cil.data.obs_stats(train.observations)
local normalize = function(o) return (o - mean) / std end
train = cil.data.normalize_dataset(train, mean, std)
local experts = cil.data.to_buffer(train)
held_out = cil.data.normalize_dataset(held_out, mean, std)
local net = {activation = cfg.activation, rng = rng}
local actor = cil.TanhNormalActor(O, A, cfg.hidden, net)
local critic = cil.nn.DoubleQ(O + A + 1, cfg.hidden, {activation = cfg.activation, rng = rng, zero_last = true})
local critic_target = critic:clone():requires_grad_(false)
local actor_params, critic_params = actor:parameters(), critic:parameters()
local actor_opt = cil.optim.Adam(actor_params, {lr = cfg.lr_actor})
local critic_opt = cil.optim.Adam(critic_params, {lr = cfg.lr_critic})
local loop = cil.online.Loop(run, cfg, rng)

-- z(ô, a, f) = [(1 - f) [ô, a], f] (f = nil: 0); Q of the wrapper, clipped
local function z(o, a, f)
  if not f then return cil.cat({o, a, cil.zeros(o:size(1), 1)}, 2) end
  return cil.cat({cil.cat({o, a}, 2) * (1 - f), f}, 2)
end
local function Q(net_, x) return net_(x):clamp(-cfg.q_max, cfg.q_max) end
local function half(q) return q:mean(2):sum() * 0.5 end

local function critic_loss(e, t)
  local o, a = cil.cat({e.obs, t.obs}, 1), cil.cat({e.act, t.act}, 1)
  local o2, d = cil.cat({e.next_obs, t.next_obs}, 1), cil.cat({e.done, t.done}, 1)
  local a_e, a_t, y = cil.no_grad(function()
    local a_e, a_t = actor(e.obs):sample(rng), actor(t.obs):sample(rng)
    local a2, lp2 = actor(o2):rsample_with_log_prob(rng)
    local qn = Q(critic_target, z(o2, a2, d))
    return a_e, a_t, (cil.minimum(qn[1], qn[2]) - lp2:reshape(-1, 1) * cfg.alpha) * cfg.gamma
  end)
  local q_ee = Q(critic, z(e.obs, e.act, e.done))
  local ibc = -half(q_ee - Q(critic, z(e.obs, a_e, e.done)))
  local cd = -half(q_ee - Q(critic, z(t.obs, a_t, t.done)))
  local td = half((Q(critic, z(o, a)) - y):square())
  local x = z(cil.cat({e.obs, t.obs}, 1), cil.cat({e.act, a_t}, 1))
  local gp, gnorm = cil.gradient_penalty_members(critic, 2, x, x, cfg.grad_target, rng)
  local loss = (ibc * cfg.ibc_penalty + cd * (1 - cfg.ibc_penalty)) * (1 - cfg.td_penalty) + td * cfg.td_penalty
    + gp * cfg.grad_penalty
  return loss, {critic_loss = loss:item(), critic_ibc = ibc:item(), critic_cd = cd:item(), critic_td = td:item(),
    grad_penalty = gp:item(), grad_norm = gnorm:item(), q_expert = q_ee:mean():item()}
end

local function actor_loss(o)
  local a, logp = actor(o):rsample_with_log_prob(rng)
  local q = Q(critic, z(o, a))
  return (logp:reshape(-1, 1) * cfg.alpha - cil.minimum(q[1], q[2])):mean()
end

local function update()
  local ne = math.floor(cfg.batch_size * cfg.expert_ratio)
  local e, t = experts:sample(ne, rng), loop:sample(cfg.batch_size - ne)
  local loss, s = critic_loss(e, t)
  cil.optim.minimize(critic_opt, loss, critic_params, cfg.grad_clip)
  local aloss = actor_loss(cil.cat({e.obs, t.obs}, 1))
  cil.optim.minimize(actor_opt, aloss, actor_params)       -- no actor grad clipping, as the reference
  critic_target:polyak_from(critic, cfg.polyak)
  s.actor_loss = aloss:item()
  return s
end

if RECOIL_ONLINE_TEST then return {critic_loss = critic_loss, actor_loss = actor_loss, z = z, Q = Q, actor = actor,
  critic = critic, critic_target = critic_target, cfg = cfg, rng = rng, update = update, loop = loop} end
loop:train{
  actor = actor,
  train_obs = normalize, eval_obs = normalize,
  store_reward = function(r) return r * 0 end,
  learn = update,
  log_extra = function(s, step)
    local g = cil.rng(cil.run.eval_seed(cfg, step) + 17)
    s.train_act_logp, s.train_act_mae = cil.offline.probe(actor, train, g)
    s.eval_act_logp, s.eval_act_mae = cil.offline.probe(actor, held_out, g)
    return s
  end,
  extra_state = function() return {actor = actor:state_dict(), critic = critic:state_dict(),
    critic_target = critic_target:state_dict(), actor_opt = actor_opt:state(), critic_opt = critic_opt:state()} end,
  load_extra = function(s)
    actor:load_state_dict(s.actor, "recoil_online actor"); critic:load_state_dict(s.critic, "recoil_online critic")
    critic_target:load_state_dict(s.critic_target, "recoil_online critic_target")
    actor_opt:load_state(s.actor_opt); critic_opt:load_state(s.critic_opt)
  end,
}
cil.checkpoint.save(run.dir .. "/policy.h5", {actor = actor:state_dict(), obs_mean = mean, obs_std = std, step = loop.S.step})
cil.run.finish(run, loop.S.evals, demos.demo_return or demos.path, loop)
