-- Dynamics ensemble pretraining: the reference's train_ensemble.py (algorithms.md §3.1-3.3, §3.5).
-- Data: 10 expert episodes (rewards zeroed) and up to 1e6 rows of a transition file; observations are
-- normalized by the union's statistics, which travel with the saved model. Inputs [ô, a], targets
-- [ô' - ô, r]. Per epoch one Adam step per 256-row slice of an independent permutation per member on
--   L_SL = mean (mu - y)^2 e^-lv + mean lv + 0.001 (sum maxlv - sum minlv) + sum_k decay_k/2 ||W_k||^2
-- then the held-out MAE of each member; a member improves when its MAE falls by more than 1 %; training
-- stops once no member improved for more than 10 epochs. Each member gets back its best layer
-- parameters; the elites are the 5 lowest MAEs of the last epoch.
--   cleanil algorithms/ensemble.lua --env=hopper [--dataset=medium_expert] [--preset=quick] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("ensemble", arg, "pretrain the dynamics ensemble of the model-based methods")
if not cfg then return end -- --help
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim
for _, k in ipairs({"members", "elites", "batch_size", "max_epochs", "num_expert_trajs", "transition_data_size"}) do
  if cfg[k] < 1 then error(("ensemble: --%s must be a positive integer, got %s"):format(k, cfg[k]), 0) end
end
if cfg.elites > cfg.members then error("ensemble: --elites cannot exceed --members", 0) end
if not (cfg.lr > 0 and cfg.lr < math.huge) then error("ensemble: --lr must be a finite positive number", 0) end
if not (cfg.eval_ratio > 0 and cfg.eval_ratio < 1) then error("ensemble: --eval_ratio must lie in (0, 1)", 0) end

-- data (§3.5)
local tpath = cfg.transition_path ~= "" and cfg.transition_path or cil.shipped.path(cfg.env, cfg.dataset)
local trans
trans, tpath = cil.data.load(tpath)
cil.data.check_task(trans, cfg.env, tpath)
if cfg.max_rows > 0 and cil.data.num_rows(trans) > cfg.max_rows then
  trans = cil.data.select(trans, cil.arange(1, cfg.max_rows + 1))
end
-- the reference samples transition_data_size rows without replacement: every row of a medium-replay
-- file, a random half of a 2e6-row medium-expert one (no draw from rng when the file is not larger)
local nt = cil.data.num_rows(trans)
if nt > cfg.transition_data_size then
  trans = cil.data.select(trans, cil.randperm(rng, nt):narrow(1, 1, cfg.transition_data_size))
end
local expert = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs, {rule = cfg.expert_rule, env = cfg.env})
local all = cil.data.combine(expert, trans)
local N = cil.data.num_rows(all)
local obs_mean, obs_std = cil.data.obs_stats(all.observations)
local o = cil.data.normalize(all.observations, obs_mean, obs_std)
local o2 = cil.data.normalize(all.next_observations, obs_mean, obs_std)
local x = cil.cat({o, all.actions}, 2):persist()
local y = cfg.pred_reward and cil.cat({o2 - o, all.rewards:reshape(N, 1)}, 2):persist() or (o2 - o):persist()
o, o2, all = nil, nil, nil
cil.reset()
print(string.format("[ensemble %s] %d rows: %d expert (%d episodes) + %d from %s", cfg.env, N,
  cil.data.num_rows(expert), expert.episodes, cil.data.num_rows(trans), tpath))

-- model and trainer (§3.1, §3.3)
local dyn = cil.EnsembleDynamics(O, A, {members = cfg.members, elites = cfg.elites, hidden = cfg.hidden,
  activation = cfg.activation, min_std = cfg.min_std, max_std = cfg.max_std, pred_reward = cfg.pred_reward, rng = rng})
local trainer = cil.DynamicsTrainer(dyn, {lr = cfg.lr, grad_clip = cfg.grad_clip, batch_size = cfg.batch_size,
  eval_ratio = cfg.eval_ratio, max_eval = cfg.max_eval, max_stale = cfg.max_stale})
local split = trainer:format(x, y, rng)

-- the no-change baseline: MAE of predicting Delta = 0 (the observation columns of the held-out rows)
local ex, ey = split.eval_x or split.x, split.eval_y or split.y
local baseline = ey:narrow(2, 1, O):abs():mean():item()
local function obs_mae()
  return cil.no_grad(function()
    local mu = dyn:forward(ex)
    local per = (mu:narrow(3, 1, O) - ey:narrow(2, 1, O)):abs():mean(3):mean(2):totable()
    local elites, m = dyn.elites or {}, 0
    for _, e in ipairs(elites) do m = m + per[e] / #elites end
    return m, per
  end)
end

local state
if run.resuming then
  local ck = run:load_checkpoint()
  if ck.algo ~= "ensemble" or ck.env ~= cfg.env then
    error(("ensemble: %s is a checkpoint of %s on %s, not of the ensemble on %s"):format(run:checkpoint_path(),
      tostring(ck.algo), tostring(ck.env), cfg.env), 0)
  end
  dyn:load_state_dict(ck.model, "ensemble checkpoint")
  dyn.scaler_mean:copy_(ck.scaler_mean); dyn.scaler_std:copy_(ck.scaler_std)
  trainer:load_state(ck.trainer)
  rng:set_state(ck.rng)
  state = trainer.fit_state
  run:trim_log(state.epoch)
  print(string.format("[ensemble %s] resumed at epoch %d", cfg.env, state.epoch))
end

local t0 = cil.sys.clock()
run:poll_interrupt()                           -- signals from here on wait for the end of an epoch
local result = trainer:fit(split, rng, {max_epochs = cfg.max_epochs, state = state, on_epoch = function(info)
  local row = {step = info.epoch, loss = info.loss, improved = info.improved, stale = info.stale,
    seconds = cil.sys.clock() - t0}
  local mae, nll = 0, 0
  for e = 1, cfg.members do
    row["mae_" .. e], row["nlogp_" .. e] = info.mae[e], info.nll[e]
    mae, nll = mae + info.mae[e] / cfg.members, nll + info.nll[e] / cfg.members
  end
  row.mae, row.nlogp = mae, nll
  run:log(row)
  local maes = {}
  for e = 1, cfg.members do maes[e] = string.format("%.4f", info.mae[e]) end
  run:progress(info.epoch, cfg.max_epochs, string.format("loss %.4f | held-out MAE %s | improved %d, stale %d",
    info.loss, table.concat(maes, " "), info.improved, info.stale), true)
  local function save()
    cil.checkpoint.save(run:checkpoint_path(), {algo = "ensemble", env = cfg.env, model = dyn:state_dict(),
      scaler_mean = dyn.scaler_mean, scaler_std = dyn.scaler_std, trainer = trainer:state(), rng = rng:state(),
      config = cfg})
  end
  local saved = info.epoch % cfg.checkpoint_every == 0
  if saved then save() end
  run:poll_interrupt(not saved and save or nil, info.epoch)   -- a signal: checkpoint after this epoch, exit 3
end})
local seconds = cil.sys.clock() - t0

local mae, per = obs_mae()
local meta = {env = cfg.env, dataset = cfg.dataset, obs_mean = obs_mean, obs_std = obs_std, epochs = result.epochs,
  rows = N, heldout_mae = result.mae, heldout_nlogp = result.nll, heldout_obs_mae = per, no_change_mae = baseline,
  source = string.format("cleanil algorithms/ensemble.lua --env=%s --dataset=%s --seed=%d", cfg.env, cfg.dataset, cfg.seed)}
dyn:save(run.dir .. "/ensemble.h5", meta)
if cfg.save_path ~= "" then dyn:save(cfg.save_path, meta) end
local emae, enll = 0, 0
for _, e in ipairs(result.elites) do emae, enll = emae + result.mae[e] / #result.elites, enll + result.nll[e] / #result.elites end
run:write_json("summary.json", {algo = "ensemble", env = cfg.env, dataset = cfg.dataset, epochs = result.epochs,
  elites = result.elites, elite_mae = emae, elite_nlogp = enll, elite_obs_mae = mae, no_change_obs_mae = baseline,
  obs_mae_ratio = mae / baseline, rows = N, train_seconds = seconds, threads = cfg.threads})
print(string.format("[ensemble %s %s] %d epochs in %.0f s | elites %s | held-out MAE %.4f, NLL %.4f | observation MAE %.4f = %.2f of no-change (%.4f)",
  cfg.env, cfg.dataset, result.epochs, seconds, table.concat(result.elites, ","), emae, enll, mae, mae / baseline, baseline))
