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
for _, k in ipairs({"rollout_batch", "horizon", "rollout_every", "model_buffer_size"}) do
  if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then error(("mopo: --%s must be a positive whole number"):format(k), 0) end
end
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim
local mpath = cfg.model ~= "" and cfg.model or cil.data_path(cfg.env, "ensemble_" .. cfg.dataset .. ".h5")
local dyn, meta = cil.load_dynamics(mpath, cfg.env)
if not dyn.pred_reward then error("mopo: " .. mpath .. " has no reward head", 0) end
local mean, std = meta.obs_mean:persist(), meta.obs_std:persist()
local tname = cfg.transitions ~= "" and cfg.transitions or cil.shipped.path(cfg.env, cfg.dataset)
local data, tpath = cil.data.load(tname)
cil.data.check_task(data, cfg.env, tpath)
local offline = cil.data.to_buffer(cil.data.normalize_dataset(data, mean, std))
data = nil
local loop = cil.offline.Loop(run, cfg, rng, {experts = false, mean = mean, std = std})
local sac = cil.SAC(O, A, cfg, rng)
local model_buf = cil.ReplayBuffer(cfg.model_buffer_size, O, A)
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
  last = {model_rollout_steps = r.steps, model_rollout_rows = r.rows, ensemble_pen = r.pen_mean}
end

local function step(t)
  if t == 0 or (t + 1) % cfg.rollout_every == 0 then rollout() end
  cil.reset()
  local b = model_buf:size() >= cfg.batch_size and cil.data.sample_mixed(offline, model_buf, cfg.batch_size, cfg.real_ratio, rng)
    or offline:sample(cfg.batch_size, rng)
  local s = sac:update(b)
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
