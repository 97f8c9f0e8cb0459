-- MOPO: offline model-based RL with an uncertainty-penalized model (algorithms.md §3.4, §5.3).
-- The pretrained ensemble (all 7 members, reward head kept) and its observation statistics; the
-- offline buffer holds every row of the medium-expert data. Per iteration t:
--   if t == 0 or (t + 1) % 250 == 0: 5000 start states from the offline buffer, 40 steps of
--     a ~ pi(ô) -> (ô', r^) model step -> d = term(ô') -> pen = mean_dims sqrt(mean_e sigma^2 + var_e mu)
--     -> store r^ - lambda pen (lambda before its update) -> lambda step
--        L_lambda = mean(e^{log lambda} sg(lambda pen - target)) -> keep rows with d = 0
--   one SAC step (MSE critic) on 128 offline + 128 model rows
--   cleanil algorithms/mopo.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("mopo", arg, "MOPO: offline RL through an uncertainty-penalized model")
if not cfg then return end -- --help
local M = cil.mbrl.setup(run, cfg, rng)
local dyn, mean, std, offline, loop, sac = M.dyn, M.mean, M.std, M.offline, M.loop, M.sac
local model_buf = M.model_buf
local log_lam = cil.param(cil.tensor{math.log(cfg.lam)})
local lam_opt = cil.optim.Adam({log_lam}, {lr = cfg.lr_lam})
local last = {}

-- the stored reward r^ - lambda pen with lambda before its step, then the lambda step
local function penalized(st)
  local lam = math.exp(log_lam[1])
  local stored = st.reward - st.pen * lam
  if cfg.tune_lam then
    local loss = (log_lam:exp() * (st.pen * lam - cfg.lam_target):mean():detach()):sum()
    log_lam.grad = nil
    loss:backward()
    lam_opt:step()
  end
  return stored
end

local function rollout()
  local starts = offline:sample(cfg.rollout_batch, rng).obs
  local r = cil.rollout.run(dyn, sac.actor, starts, {horizon = cfg.horizon, rng = rng, buffer = model_buf,
    env = cfg.env, mean = mean, std = std, continue = "alive", penalty = true, reward = penalized})
  last = r.log
end

local function step(t)
  if t == 0 or (t + 1) % cfg.rollout_every == 0 then rollout() end
  cil.reset()
  M.model_buf = model_buf
  local s = sac:update(cil.mbrl.batch(M, cfg, rng))
  for k, v in pairs(last) do s[k] = v end
  s.lam, s.model_buffer_size = math.exp(log_lam[1]), model_buf:size()
  return s
end

if MOPO_TEST then return {penalized = penalized, log_lam = log_lam, rollout = rollout, model_buf = model_buf, cfg = cfg} end
loop:train{
  actor = sac.actor, step = step,
  state = function() return {sac = sac:state(), log_lam = log_lam, lam_opt = lam_opt:state()} end,
  extra_checkpoint = function() return {model_buffer = model_buf} end,
  load = function(s, ck)
    sac:load_state(s.sac); log_lam:copy_(s.log_lam); lam_opt:load_state(s.lam_opt)
    model_buf = ck.model_buffer
  end,
}
