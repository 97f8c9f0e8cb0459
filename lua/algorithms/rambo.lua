-- RAMBO: offline RL with an adversarially trained model (algorithms.md §3.6, §5.4). The pretrained
-- medium-expert ensemble reduced to its 5 elites (reward head kept) and its observation statistics;
-- the offline buffer holds every row of the data. Per iteration t:
--   if t == 0 or (t + 1) % 250 == 0: 5000 x 40 rollouts from offline states, stored reward r^,
--     d = term(ô'), rows with every |ô'| < 30 continue (terminated ones too)
--   one SAC step (Huber critic) on 128 offline + 128 model rows
--   if (t + 1) % 1000 == 0: the adversarial model update, 1000 steps, deterministic rollout actions,
--     targets [Δô, r], advantage A = r^ + (1 - d) gamma min Q(ô', a') - min Q(ô, a), a' ~ pi(ô')
--   cleanil algorithms/rambo.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("rambo", arg, "RAMBO: offline RL through an adversarially trained model")
if not cfg then return end -- --help
for _, k in ipairs({"update_model_every", "adv_steps", "adv_rollout_steps"}) do
  if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then error(("rambo: --%s must be a positive whole number"):format(k), 0) end
end
local M = cil.mbrl.setup(run, cfg, rng, {elites = true})
local dyn, mean, std, offline, loop, sac = M.dyn, M.mean, M.std, M.offline, M.loop, M.sac
local model_buf = M.model_buf
local model_opt = cil.optim.Adam(dyn:parameters(), {lr = cfg.lr_model})
local last, adv_stats = {}, {}
local function cat(o, a) return cil.cat({o, a}, 2) end

local function rollout()
  local starts = offline:sample(cfg.rollout_batch, rng).obs
  local r = cil.rollout.run(dyn, sac.actor, starts, {horizon = cfg.horizon, rng = rng, buffer = model_buf,
    env = cfg.env, mean = mean, std = std, continue = "bounded"})
  last = r.log
end

-- A = r^ + (1 - d) gamma min Q(ô', a') - min Q(ô, a): the online critic, no clip, no entropy term
local function advantage(o, a, o2, r, d)
  local a2 = sac.actor(o2):sample(rng)
  local v2 = sac.critic:minq(cat(o2, a2))
  return r:reshape(-1, 1) + (1 - d) * v2 * cfg.gamma - sac.critic:minq(cat(o, a)), v2
end

local function adversarial_update()
  local n = math.min(math.floor(256 * cfg.adv_steps * cfg.sl_ratio), offline:size())
  local b = offline:sample(n, rng)                            -- with replacement, as the reference
  local sl = {x = cat(b.obs, b.act):persist(), y = cil.cat({b.next_obs - b.obs, b.rew}, 2):persist()}
  adv_stats = cil.adversarial.update(dyn, model_opt, {steps = cfg.adv_steps, batch_size = 256,
    rollout_steps = cfg.adv_rollout_steps, adv_penalty = cfg.adv_penalty, grad_clip = cfg.grad_clip, rng = rng,
    actor = sac.actor, deterministic = true, env = cfg.env, mean = mean, std = std, sl = sl, advantage = advantage,
    starts = function(k) local s = offline:sample(k, rng); return s.obs, cil.zeros(k, 1) end})
end

local function step(t)
  if t == 0 or (t + 1) % cfg.rollout_every == 0 then rollout() end
  cil.reset()
  M.model_buf = model_buf
  local s = sac:update(cil.mbrl.batch(M, cfg, rng))
  if (t + 1) % cfg.update_model_every == 0 then adversarial_update() end
  for k, v in pairs(last) do s[k] = v end
  for k, v in pairs(adv_stats) do s["model_" .. k] = v end
  s.model_buffer_size = model_buf:size()
  return s
end

if RAMBO_TEST then return {advantage = advantage, sac = sac, cfg = cfg, rng = rng, step = step, rollout = rollout,
  adversarial_update = adversarial_update, M = M} end -- tests, bench/rambo.lua
loop:train{
  actor = sac.actor, step = step,
  state = function() return {sac = sac:state(), model = dyn:state_dict(), scaler_mean = dyn.scaler_mean,
    scaler_std = dyn.scaler_std, model_opt = model_opt:state()} end,
  extra_checkpoint = function() return {model_buffer = model_buf} end,
  load = function(s, ck)
    sac:load_state(s.sac); dyn:load_state_dict(s.model, "rambo model")
    dyn.scaler_mean:copy_(s.scaler_mean); dyn.scaler_std:copy_(s.scaler_std); model_opt:load_state(s.model_opt)
    model_buf = ck.model_buffer
  end,
}
