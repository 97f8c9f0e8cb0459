-- IBC: implicit behaviour cloning -- an energy model R(ô, a) trained with InfoNCE, and a SAC-style
-- actor that samples from it (algorithms.md §2.6, §4.2). Per iteration, on 256 expert rows each:
--   actor:   L_pi = mean(alpha log pi(a~|ô) - R(ô, a~)),  a~ ~ pi(ô) reparameterized; alpha tuned
--            (L_alpha = -mean(exp(log alpha) sg(log pi + H)), H = -act_dim)
--   energy:  candidates per row: a_E, one actor sample (no grad), num_random actions ~ U(min_b a_E, max_b a_E)
--            L_R = -mean(R(ô, a_E) - logsumexp_candidates R(ô, .))
--                  + gp GP(R; [ô, a_E] x (1 + num_random), [actor rows; random rows]; c) + l2 l2(R)
--   cleanil algorithms/ibc.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("ibc", arg, "implicit behaviour cloning (energy model + SAC-style sampler)")
if not cfg then return end -- --help
if math.type(cfg.num_random) ~= "integer" or cfg.num_random < 0 then error("ibc: --num_random must be a whole number >= 0", 0) end
local loop = cil.offline.Loop(run, cfg, rng)
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim
local actor = cil.TanhNormalActor(O, A, cfg.hidden, {activation = cfg.activation, rng = rng})
local energy = cil.RewardModel(O, A, {use_done = false, max_reward = cfg.max_reward, hidden = cfg.hidden,
  activation = cfg.activation, rng = rng})
local log_alpha = cil.param(cil.tensor{math.log(cfg.alpha)})
local actor_params, energy_params = actor:parameters(), energy:parameters()
local actor_opt = cil.optim.Adam(actor_params, {lr = cfg.lr_actor})
local energy_opt = cil.optim.Adam(energy_params, {lr = cfg.lr_reward})
local alpha_opt = cil.optim.Adam({log_alpha}, {lr = cfg.lr_actor})
local function cat(o, a) return cil.cat({o, a}, 2) end

local function actor_step(b)
  local alpha = math.exp(log_alpha[1])
  local a, logp = actor(b.obs):rsample_with_log_prob(rng)
  local loss = (logp:reshape(-1, 1) * alpha - energy(cat(b.obs, a))):mean()
  cil.optim.minimize(actor_opt, loss, actor_params, cfg.grad_clip)
  local s = {actor_loss = loss:item(), alpha = alpha}
  if cfg.tune_alpha then
    local aloss = -(log_alpha:exp() * (logp:detach() - A)):mean()
    log_alpha.grad = nil
    aloss:backward()
    alpha_opt:step()
    s.alpha_loss = aloss:item()
  end
  return s
end

-- the candidates of a batch: expert, actor, random actions, stacked [K, B, A] (K = 2 + num_random)
local function candidates(o, a_e)
  return cil.no_grad(function()
    local B = a_e:size(1)
    local lo, hi = a_e:min(1, true), a_e:max(1, true)
    local parts = {a_e:reshape(1, B, A), actor(o):sample(rng):reshape(1, B, A)}
    for k = 1, cfg.num_random do parts[2 + k] = (lo + (hi - lo) * cil.rand(rng, B, A)):reshape(1, B, A) end
    return cil.cat(parts, 1)
  end)
end

-- InfoNCE over the candidates (logits [K, B], the expert's row first) and the gradient penalty
local function energy_loss(b)
  local B = b.obs:size(1)
  local acts = candidates(b.obs, b.act)
  local K = acts:size(1)
  local o_rep = b.obs:reshape(1, B, O):expand(K, B, O)
  local x = cil.cat({o_rep, acts}, 3):reshape(K * B, O + A)
  local logits = energy(x):reshape(K, B)
  local nce = -(logits[1] - logits:logsumexp(1)):mean()
  local x_real = cil.cat({o_rep:narrow(1, 1, K - 1), acts[1]:reshape(1, B, A):expand(K - 1, B, A)}, 3):reshape((K - 1) * B, O + A)
  local x_fake = x:narrow(1, B + 1, (K - 1) * B)
  local gp, gnorm = cil.gradient_penalty(energy, x_real, x_fake, cfg.grad_target, rng)
  local loss = nce + gp * cfg.grad_penalty
  if cfg.l2_penalty > 0 then loss = loss + cil.l2(energy_params) * cfg.l2_penalty end
  local best = cil.no_grad(function() return logits:argmax(1) end)
  local acc, topk = cil.no_grad(function() return best:eq(1):mean():item(), best:le(2):mean():item() end)
  return loss, {reward_loss = nce:item(), reward_total_loss = loss:item(), grad_penalty = gp:item(), grad_norm = gnorm:item(),
    reward_accuracy = acc, reward_accuracy_topk = topk, reward_real = logits[1]:mean():item(),
    reward_fake = logits[2]:mean():item(), reward_rand = K > 2 and logits:narrow(1, 3, K - 2):mean():item() or 0}
end

local function step()
  local s = actor_step(loop.buffer:sample(cfg.batch_size, rng))
  local loss, es = energy_loss(loop.buffer:sample(cfg.batch_size, rng))
  cil.optim.minimize(energy_opt, loss, energy_params, cfg.grad_clip)
  for k, v in pairs(es) do s[k] = v end
  return s
end

if IBC_TEST then return {energy_loss = energy_loss, candidates = candidates, actor = actor, energy = energy, rng = rng, step = step} end
loop:train{
  actor = actor, step = step,
  state = function() return {actor = actor:state_dict(), energy = energy:state_dict(), log_alpha = log_alpha,
    actor_opt = actor_opt:state(), energy_opt = energy_opt:state(), alpha_opt = alpha_opt:state()} end,
  load = function(s)
    actor:load_state_dict(s.actor, "ibc actor"); energy:load_state_dict(s.energy, "ibc energy")
    log_alpha:copy_(s.log_alpha)
    actor_opt:load_state(s.actor_opt); energy_opt:load_state(s.energy_opt); alpha_opt:load_state(s.alpha_opt)
  end,
}
