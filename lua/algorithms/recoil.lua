-- RECOIL, offline: a Q function that tells the expert's state-actions from a suboptimal data set's,
-- and an AWR policy read off it (algorithms.md §2.7, §4.4). Critic input x(ô, f) = [ô (1 - f), f] then
-- [x, a]. Per iteration E = 128 expert-train rows, T = 128 transition rows, D = E u T:
--   no grad:  a~_T ~ pi(ô_T),  a' ~ pi(ô') on D,  y = (1 - f) gamma (min Qbar(x(ô', d), a') - alpha log pi(a'|ô'))
--   CD_T = 1/2 sum_i -(mean Q_i(x_E, a_E) - mean Q_i(x_T, a~_T))        x_E = x(ô_E, 0), x_T = x(ô_T, f_T)
--   TD   = 1/2 sum_i mean_D (Q_i(x(ô, f), a) - y)^2
--   QT   = 1/2 sum_i mean (Q_i(x_E, a_E) - 200)^2
--   H    = 1/2 sum_i -mean min(Q_i(x_T, a~_T), -200)
--   GP   = 1/2 sum_i GP(Q_i; [ô_E, 0, a_E], [ô_T, 0, a~_T]; 100)       (only built when its weight > 0)
--   L_Q  = (1 - td) CD_T + td TD + QT + H + gp GP
--   actor: AWR on [ô_E; ô_T] with [a_E; a_T noised on half the rows], critic input [ô, 0, a]; polyak
-- f = 1 marks an absorbing current state: the transition buffer holds, besides its rows, a flagged copy
-- of the first row after each terminated episode (below), f = 0 everywhere else.
--   cleanil algorithms/recoil.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("recoil", arg, "RECOIL: imitation from demonstrations and suboptimal data")
if not cfg then return end -- --help
local tname = cfg.transitions ~= "" and cfg.transitions or cil.shipped.path(cfg.env, "medium_replay")
local trans, tpath = cil.data.load(tname)
cil.data.check_task(trans, cfg.env, tpath)
local loop = cil.offline.Loop(run, cfg, rng, {transitions = trans})
-- Absorbing rows. The reference's shifted root flag makes the first row after each terminated episode
-- the absorbing input [0, 1, a] with target 0: the only rows that fit the absorbing state's value, which
-- every terminal row bootstraps from. We keep those rows as the start states they are and add a flagged
-- copy of each, so that value is fitted as often as in the reference (README, deviations). f travels in
-- the transition buffer's reward column, which RECOIL does not otherwise read (its reward is implicit).
do
  local td, ne = loop.transition_data, cil.data.num_rows(loop.train_data)
  local term, rows = td.terminals:totable(), {}
  for i = ne + 1, #term - 1 do if term[i] ~= 0 then rows[#rows + 1] = i + 1 end end
  local aug = {rewards = cil.zeros(#term)}
  if #rows > 0 then
    local idx = cil.tensor(rows)
    for _, k in ipairs({"observations", "actions", "next_observations", "terminals"}) do
      aug[k] = cil.cat({td[k], td[k]:index_select(1, idx)}, 1)
    end
    aug.rewards = cil.cat({aug.rewards, cil.ones(#rows)}, 1)
  else
    for _, k in ipairs({"observations", "actions", "next_observations", "terminals"}) do aug[k] = td[k] end
  end
  loop.transitions = cil.data.to_buffer(aug)
  loop.absorbing_rows = #rows
end
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim
local net = {activation = cfg.activation, rng = rng}
local actor = cil.TanhNormalActor(O, A, cfg.hidden, net)
local critic = cil.nn.DoubleQ(O + 1 + A, cfg.hidden, net)
local critic_target = critic:clone():requires_grad_(false)
local actor_params, critic_params = actor:parameters(), critic:parameters()
local actor_opt = cil.optim.Adam(actor_params, {lr = cfg.lr_actor})
local critic_opt = cil.optim.Adam(critic_params, {lr = cfg.lr_critic})
-- [x(ô, f), a] with x(ô, f) = [ô (1 - f), f]; f = nil means 0 for every row
local function input(o, a, f)
  if not f then return cil.cat({o, cil.zeros(o:size(1), 1), a}, 2) end
  return cil.cat({o * (1 - f), f, a}, 2)
end
local function half(q) return q:mean(2):sum() * 0.5 end   -- 1/2 sum_i mean over rows, q [2, B, 1]

local function critic_loss(e, t)
  local o = cil.cat({e.obs, t.obs}, 1)
  local a = cil.cat({e.act, t.act}, 1)
  local o2, d = cil.cat({e.next_obs, t.next_obs}, 1), cil.cat({e.done, t.done}, 1)
  local f_t = t.rew                                         -- the absorbing flag of T's current states
  local f = cil.cat({cil.zeros(e.obs:size(1), 1), f_t}, 1)
  local a_t, y = cil.no_grad(function()
    local a_t = actor(t.obs):sample(rng)
    local a2, lp2 = actor(o2):rsample_with_log_prob(rng)
    return a_t, (critic_target:minq(input(o2, a2, d)) - lp2:reshape(-1, 1) * cfg.alpha) * (1 - f) * cfg.gamma
  end)
  local q_e, q_t = critic(input(e.obs, e.act)), critic(input(t.obs, a_t, f_t))
  local q_d = critic(input(o, a, f))
  local cd = -half(q_e - q_t)
  local td = half((q_d - y):square())
  local qt = half((q_e - cfg.q_expert_target):square())
  local h = -half(q_t:clamp(nil, -cfg.q_expert_target))
  local loss = cd * (1 - cfg.td_penalty) + td * cfg.td_penalty + qt * cfg.q_target_penalty + h
  local s = {critic_cd = cd:item(), critic_td = td:item(), critic_qt = qt:item(), critic_h = h:item(),
    q_expert = q_e:mean():item(), q_transition = q_t:mean():item()}
  if cfg.grad_penalty > 0 then
    local gp, gnorm = cil.gradient_penalty_members(critic, 2, input(e.obs, e.act), input(t.obs, a_t), cfg.grad_target, rng)
    loss = loss + gp * cfg.grad_penalty
    s.grad_penalty, s.grad_norm = gp:item(), gnorm:item()
  end
  s.critic_loss = loss:item()
  return loss, s
end

local function step()
  local ne = math.floor(cfg.batch_size * cfg.expert_ratio)
  local e, t = loop.buffer:sample(ne, rng), loop.transitions:sample(cfg.batch_size - ne, rng)
  local loss, stats = critic_loss(e, t)
  cil.optim.minimize(critic_opt, loss, critic_params, cfg.grad_clip)
  local a_bar = cil.cat({e.act, (cil.awr.noisy_actions(t.act, cfg.action_noise, rng))}, 1)
  local aloss, astats = cil.awr.actor_loss(actor, critic, cil.cat({e.obs, t.obs}, 1), a_bar, cfg.alpha, rng,
    function(o, a) return input(o, a) end)
  cil.optim.minimize(actor_opt, aloss, actor_params, cfg.grad_clip)
  critic_target:polyak_from(critic, cfg.polyak)
  stats.actor_loss = aloss:item()
  for k, v in pairs(astats) do stats[k] = v end
  return stats
end

if RECOIL_TEST then return {critic_loss = critic_loss, input = input, actor = actor, critic = critic, loop = loop,
  critic_target = critic_target, cfg = cfg, rng = rng, step = step} end
loop:train{
  actor = actor, step = step,
  state = function() return {actor = actor:state_dict(), critic = critic:state_dict(),
    critic_target = critic_target:state_dict(), actor_opt = actor_opt:state(), critic_opt = critic_opt:state()} end,
  load = function(s)
    actor:load_state_dict(s.actor, "recoil actor"); critic:load_state_dict(s.critic, "recoil critic")
    critic_target:load_state_dict(s.critic_target, "recoil critic_target")
    actor_opt:load_state(s.actor_opt); critic_opt:load_state(s.critic_opt)
  end,
}
