-- MBPO: SAC on real and model data, with the dynamics ensemble learned as it goes (algorithms.md
-- §3.3, §5.2). Raw observations. Per env step t after the warm-up (k = t - update_after + 1):
--   if k % 250 == 0: retrain the ensemble warm (§3.3) on up to 100,000 real rows drawn without
--     replacement, targets [Δo, r]; then 100,000 rollouts of H = floor(1 + 14 clip((epoch - 20)/80, 0, 1))
--     steps from real states, rows with d = term(o') = 1 dropped after they are stored
--   10 SAC steps (Huber critic), each on 128 real + 128 model rows (256 real while the model buffer is small)
--   cleanil algorithms/mbpo.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("mbpo", arg, "MBPO: model-based policy optimization (online)")
if not cfg then return end -- --help
for _, k in ipairs({"policy_steps", "train_model_every", "model_rows", "model_epochs", "rollout_batch", "max_horizon", "model_buffer_size"}) do
  if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then error(("mbpo: --%s must be a positive whole number"):format(k), 0) end
end
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim
local sac = cil.SAC(O, A, cfg, rng)
local dyn = cil.EnsembleDynamics(O, A, {members = cfg.members, elites = cfg.elites, hidden = cfg.model_hidden, rng = rng})
local trainer = cil.DynamicsTrainer(dyn, {lr = cfg.lr_actor, grad_clip = cfg.grad_clip, eval_ratio = cfg.eval_ratio})
local model_buf = cil.ReplayBuffer(cfg.model_buffer_size, O, A)
local loop = cil.online.Loop(run, cfg, rng)
local last = {}

-- the rollout horizon of an epoch: 1 -> max_horizon linearly over epochs horizon_start -> horizon_end
local function horizon(epoch)
  local f = math.min(math.max((epoch - cfg.horizon_start) / (cfg.horizon_end - cfg.horizon_start), 0), 1)
  return math.floor(1 + (cfg.max_horizon - 1) * f)
end

-- the epoch a retrain at env step t rolls out with: the reference counts an epoch as finished after that
-- step's retrain and rollout, so the 1000th, 2000th, ... update still uses the epoch before it
local function rollout_epoch(t) return (t - cfg.update_after) // cfg.steps_per_epoch end

local function retrain_and_rollout(t)
  local real = loop.buffer
  local n = math.min(cfg.model_rows, real:size())
  local idx = cil.randperm(rng, real:size()):narrow(1, 1, n)     -- without replacement
  local rows = {}
  for k, v in pairs(real:rows(1, real:size())) do rows[k] = cil.data.take(v, idx) end
  local x = cil.cat({rows.obs, rows.act}, 2):persist()
  local y = cil.cat({rows.next_obs - rows.obs, rows.rew}, 2):persist()
  local fit = trainer:fit(trainer:format(x, y, rng), rng, {max_epochs = cfg.model_epochs})
  local H = horizon(rollout_epoch(t))
  local r = cil.rollout.run(dyn, sac.actor, real:sample(cfg.rollout_batch, rng).obs, {horizon = H, rng = rng,
    buffer = model_buf, env = cfg.env, continue = "alive"})
  local mae = 0
  for _, e in ipairs(fit.elites) do mae = mae + fit.mae[e] / #fit.elites end
  last = {model_epochs = fit.epochs, model_mae = mae, model_rollout_horizon = H, model_rollout_rows = r.rows}
end

-- the loop's t counts env steps from 0 and learns from t = update_after on: k = 1 at the first update
local function retrain_due(t) return (t + 1 - cfg.update_after) % cfg.train_model_every == 0 end

local function learn(t)
  if retrain_due(t) then retrain_and_rollout(t) end
  local s = {}                                       -- logged: the mean over the step's SAC updates
  for _ = 1, cfg.policy_steps do
    cil.reset()
    local b = model_buf:size() >= cfg.batch_size and cil.data.sample_mixed(loop.buffer, model_buf, cfg.batch_size, cfg.real_ratio, rng)
      or loop:sample(cfg.batch_size)
    for key, v in pairs(sac:update(b)) do s[key] = (s[key] or 0) + v / cfg.policy_steps end
  end
  for key, v in pairs(last) do s[key] = v end
  s.model_buffer_size = model_buf:size()
  return s
end

if MBPO_TEST then return {horizon = horizon, rollout_epoch = rollout_epoch, retrain_due = retrain_due, cfg = cfg} end
loop:train{
  actor = sac.actor, learn = learn,
  extra_state = function() return {sac = sac:state(), model = dyn:state_dict(), scaler_mean = dyn.scaler_mean,
    scaler_std = dyn.scaler_std, elites = dyn.elites or {}, model_opt = trainer.opt:state(), model_buffer = model_buf} end,
  load_extra = function(s)
    sac:load_state(s.sac); dyn:load_state_dict(s.model, "mbpo model")
    dyn.scaler_mean:copy_(s.scaler_mean); dyn.scaler_std:copy_(s.scaler_std)
    local el = {}
    for i, e in ipairs(s.elites) do el[i] = math.tointeger(e) end
    dyn:set_elites(#el > 0 and el or nil)
    trainer.opt:load_state(s.model_opt)
    model_buf = s.model_buffer
  end,
}
cil.checkpoint.save(run.dir .. "/policy.h5", {actor = sac.actor:state_dict(), step = loop.S.step})
cil.run.finish(run, loop.S.evals, nil, loop)
