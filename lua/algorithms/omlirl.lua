-- OMLIRL: offline model-based maximum-likelihood IRL with a MOPO-style solver (algorithms.md §3.4,
-- §4.7). Shared parts (model without reward head, data, SAC, reward, rollouts): lua/cleanil/mbirl.lua.
-- Per iteration t:
--   if t == 0 or (t + 1) % 250 == 0: 5000 starts (half expert, half transition rows), 40 steps of
--     a ~ pi(ô) -> model step -> pen (all 7 members) -> d = d or term(ô') (sticky) -> lambda step
--     L_lambda = mean(e^{log lambda} sg(lambda pen - 1)) -> store (ô, a, pen, ô', d) -> keep |ô'| < 30
--   policy: SAC (Q clipped +-1000) on 128 transition + 128 model rows with r = R(ô, a) - lambda pen
--   every 10: the reward step, 256 expert vs 256 model rows
--   cleanil algorithms/omlirl.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("omlirl", arg, "offline model-based ML-IRL (MOPO-style solver)")
if not cfg then return end -- --help
local M = cil.mbirl.setup(run, cfg, rng)
local log_lam = cil.param(cil.tensor{math.log(cfg.lam)})
local lam_opt = cil.optim.Adam({log_lam}, {lr = cfg.lr_lam})
local last, rstats = {}, {}

local function lambda_step(pen)
  if not cfg.tune_lam then return end
  local lam = math.exp(log_lam[1])
  local loss = (log_lam:exp() * (pen * lam - cfg.lam_target):mean():detach()):sum()
  log_lam.grad = nil
  loss:backward()
  lam_opt:step()
end

-- the buffer's reward column is pen; lambda steps once per rollout step
local function rollout() return M:rollout(function(st) lambda_step(st.pen); return st.pen end) end

local function step(t)
  if t == 0 or (t + 1) % cfg.rollout_every == 0 then last = rollout() end
  cil.reset()
  local b = M:batch()
  local lam = math.exp(log_lam[1])
  b.rew = cil.no_grad(function() return M.reward(M.cat(b.obs, b.act)) - b.rew * lam end)   -- pen 0 on data rows
  local s = M.sac:update(b)
  if (t + 1) % cfg.reward_every == 0 then rstats = M:reward_step() end
  for k, v in pairs(last) do s[k] = v end
  for k, v in pairs(rstats) do s[k] = v end
  s.lam, s.model_buffer_size = lam, M.model_buf:size()
  return s
end

if OMLIRL_TEST then return {step = step, rollout = rollout, M = M, log_lam = log_lam, cfg = cfg} end -- bench/omlirl.lua
M:train(step, function() return {log_lam = log_lam, lam_opt = lam_opt:state()} end,
  function(s) log_lam:copy_(s.log_lam); lam_opt:load_state(s.lam_opt) end)
