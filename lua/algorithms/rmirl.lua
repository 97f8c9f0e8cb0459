-- RMIRL: offline robust model-based IRL with a RAMBO-style solver (algorithms.md §3.6, §4.8). As
-- OMLIRL (lua/cleanil/mbirl.lua) but with the 5 elites, no penalty and no lambda (r = R(ô, a)), both
-- Q nets' final layers zero-init, and an adversarial model update every 1000 iterations (100 steps,
-- stochastic 40-step rollouts from half expert / half transition starts, targets Δô) with
--   A = R(ô, a) + (1 - d) gamma (clip(min Q(ô', a'), +-1000) - alpha log pi(a'|ô')) - clip(min Q(ô, a), +-1000)
-- (the online critic, a' ~ pi(ô')). Per iteration: rollout (if due), policy step, adversarial update
-- (if due), reward step (every 10), evaluation.
--   cleanil algorithms/rmirl.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("rmirl", arg, "offline robust model-based IRL (RAMBO-style solver)")
if not cfg then return end -- --help
for _, k in ipairs({"update_model_every", "adv_steps", "adv_rollout_steps"}) do
  if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then error(("rmirl: --%s must be a positive whole number"):format(k), 0) end
end
local M = cil.mbirl.setup(run, cfg, rng, {elites = true})
local model_opt = cil.optim.Adam(M.dyn:parameters(), {lr = cfg.lr_model})
local last, rstats, adv_stats = {}, {}, {}
local sac, Q = M.sac, cfg.q_clip

local function advantage(o, a, o2, _, d)
  local a2, lp2 = sac.actor(o2):rsample_with_log_prob(rng)
  local v2 = sac.critic:minq(M.cat(o2, a2)):clamp(-Q, Q) - lp2:reshape(-1, 1) * sac.alpha
  return M.reward(M.cat(o, a)) + (1 - d) * v2 * cfg.gamma - sac.critic:minq(M.cat(o, a)):clamp(-Q, Q), v2
end

local function adversarial_update()
  local n = math.min(math.floor(256 * cfg.adv_steps * cfg.sl_ratio), M.transitions:size())
  local b = M.transitions:sample(n, rng)                      -- with replacement, as the reference
  local sl = {x = M.cat(b.obs, b.act):persist(), y = (b.next_obs - b.obs):persist()}
  adv_stats = cil.adversarial.update(M.dyn, model_opt, {steps = cfg.adv_steps, batch_size = 256,
    rollout_steps = cfg.adv_rollout_steps, adv_penalty = cfg.adv_penalty, grad_clip = cfg.grad_clip, rng = rng,
    actor = sac.actor, deterministic = false, env = cfg.env, mean = M.mean, std = M.std, sticky = true, sl = sl,
    advantage = advantage, starts = function(k) return M:starts(k) end})
end

local function step(t)
  if t == 0 or (t + 1) % cfg.rollout_every == 0 then last = M:rollout(nil) end
  cil.reset()
  local b = M:batch()
  b.rew = cil.no_grad(function() return M.reward(M.cat(b.obs, b.act)) end)
  local s = sac:update(b)
  if (t + 1) % cfg.update_model_every == 0 then adversarial_update() end
  if (t + 1) % cfg.reward_every == 0 then rstats = M:reward_step() end
  for k, v in pairs(last) do s[k] = v end
  for k, v in pairs(rstats) do s[k] = v end
  for k, v in pairs(adv_stats) do s["model_" .. k] = v end
  s.model_buffer_size = M.model_buf:size()
  return s
end

if RMIRL_TEST then return {step = step, adversarial_update = adversarial_update, M = M, cfg = cfg} end -- bench/adversarial.lua
M:train(step, function() return {model = M.dyn:state_dict(), scaler_mean = M.dyn.scaler_mean,
    scaler_std = M.dyn.scaler_std, model_opt = model_opt:state()} end,
  function(s)
    M.dyn:load_state_dict(s.model, "rmirl model"); M.dyn.scaler_mean:copy_(s.scaler_mean)
    M.dyn.scaler_std:copy_(s.scaler_std); model_opt:load_state(s.model_opt)
  end)
