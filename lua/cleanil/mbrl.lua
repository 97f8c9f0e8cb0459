-- What the offline model-based RL solvers share (mopo, rambo; algorithms.md §5.3-5.4): the pretrained
-- ensemble (reward head required; opts.elites keeps only the elites) and its observation statistics,
-- the offline buffer of every normalized data row, the offline loop, the SAC learner and a model buffer.
return function(cil)
  local mbrl = {}

  function mbrl.setup(run, cfg, rng, opts)
    opts = opts or {}
    for _, k in ipairs({"rollout_batch", "horizon", "rollout_every", "model_buffer_size"}) do
      if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then error(("%s: --%s must be a positive whole number"):format(run.algo, k), 0) end
    end
    local spec = cil.env.spec(cfg.env)
    local M = {O = spec.obs_dim, A = spec.act_dim}
    local mpath = cfg.model ~= "" and cfg.model or cil.data_path(cfg.env, "ensemble_" .. cfg.dataset .. ".h5")
    local dyn, meta = cil.load_dynamics(mpath, cfg.env)
    if not dyn.pred_reward then error(("%s: %s has no reward head"):format(run.algo, mpath), 0) end
    if opts.elites then dyn:keep_elites() end
    M.dyn, M.mean, M.std = dyn, meta.obs_mean:persist(), meta.obs_std:persist()
    local tname = cfg.transitions ~= "" and cfg.transitions or cil.shipped.path(cfg.env, cfg.dataset)
    local data, tpath = cil.data.load(tname)
    cil.data.check_task(data, cfg.env, tpath)
    M.offline = cil.data.to_buffer(cil.data.normalize_dataset(data, M.mean, M.std))
    M.loop = cil.offline.Loop(run, cfg, rng, {experts = false, mean = M.mean, std = M.std})
    M.sac = cil.SAC(M.O, M.A, cfg, rng)
    M.model_buf = cil.ReplayBuffer(cfg.model_buffer_size, M.O, M.A)
    return M
  end

  -- a policy batch: real_ratio offline rows, the rest model rows (all offline while the model buffer is small)
  function mbrl.batch(M, cfg, rng)
    if M.model_buf:size() >= cfg.batch_size then
      return cil.data.sample_mixed(M.offline, M.model_buf, cfg.batch_size, cfg.real_ratio, rng)
    end
    return M.offline:sample(cfg.batch_size, rng)
  end

  cil.mbrl = mbrl
end
