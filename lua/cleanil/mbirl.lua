-- What the model-based IRL methods share (omlirl, rmirl; algorithms.md §4.7-4.8): the pretrained
-- medium-replay ensemble without its reward head and its observation statistics, 10 expert episodes,
-- transition rows = expert u medium-replay (reward column 0: "pen = 0"), the SAC solver, the reward
-- R(ô, a) (no done input, clipped) with its step
--   L_R = -(mean R(x_E) - mean R(x_model)) + gp GP(R; x_E, x_model; c) + l2 l2(R)   (256 + 256 rows)
-- a 1e6-row model buffer, and the sticky bounded rollouts from half expert / half transition starts.
return function(cil)
  local mbirl = {}

  function mbirl.setup(run, cfg, rng, opts)
    opts = opts or {}
    local counts = {"rollout_batch", "horizon", "rollout_every", "model_buffer_size", "num_expert_trajs"}
    if opts.solver ~= false then counts[#counts + 1] = "reward_every" end
    for _, k in ipairs(counts) do
      if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then error(("%s: --%s must be a positive whole number"):format(run.algo, k), 0) end
    end
    local spec = cil.env.spec(cfg.env)
    local M = {O = spec.obs_dim, A = spec.act_dim}
    local mpath = cfg.model ~= "" and cfg.model or cil.data_path(cfg.env, "ensemble_" .. cfg.dataset .. ".h5")
    local dyn, meta = cil.load_dynamics(mpath, cfg.env)
    dyn:remove_reward_head()
    if opts.elites then dyn:keep_elites() end
    M.dyn, M.mean, M.std = dyn, meta.obs_mean:persist(), meta.obs_std:persist()
    local demos = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs, {rule = cfg.expert_rule, env = cfg.env})
    local tname = cfg.transitions ~= "" and cfg.transitions or cil.shipped.path(cfg.env, cfg.dataset)
    local trans, tpath = cil.data.load(tname)
    cil.data.check_task(trans, cfg.env, tpath)
    -- opts.split (rmirl_implicit): a train/eval split of the demonstrations; only the train part is used
    local train = demos
    if opts.split then
      local held_out
      train, held_out = cil.data.train_test_split(demos, cfg.train_ratio, rng)
      M.eval_data = cil.data.normalize_dataset(held_out, M.mean, M.std)
    end
    M.expert_data = cil.data.normalize_dataset(train, M.mean, M.std)
    M.experts = cil.data.to_buffer(M.expert_data)
    local union = cil.data.normalize_dataset(cil.data.combine(train, trans), M.mean, M.std)
    M.transition_data = union
    union.rewards = cil.zeros(cil.data.num_rows(union)):persist()
    M.transitions = cil.data.to_buffer(union)
    M.loop = cil.offline.Loop(run, cfg, rng, {experts = false, mean = M.mean, std = M.std})
    M.loop.experts = demos                                     -- the demonstrator scale of the headline
    if opts.solver ~= false then                               -- rmirl_implicit brings its own critic and actor
      M.sac = cil.SAC(M.O, M.A, cfg, rng)
      M.reward = cil.RewardModel(M.O, M.A, {use_done = false, max_reward = cfg.max_reward, hidden = cfg.hidden,
        activation = cfg.activation, rng = rng})
      M.reward_params = M.reward:parameters()
      M.reward_opt = cil.optim.Adam(M.reward_params, {lr = cfg.lr_reward})
    end
    M.model_buf = cil.ReplayBuffer(cfg.model_buffer_size, M.O, M.A)
    M.rng, M.cfg = rng, cfg
    return setmetatable(M, {__index = mbirl})
  end

  function mbirl.cat(o, a) return cil.cat({o, a}, 2) end

  -- start states: half expert rows, half transition rows (their root flags are 0)
  function mbirl:starts(n)
    local ne = math.floor(n * self.cfg.expert_start_ratio)
    return cil.cat({self.experts:sample(ne, self.rng).obs, self.transitions:sample(n - ne, self.rng).obs}, 1), cil.zeros(n, 1)
  end

  -- a rollout into the model buffer; reward(step) gives the stored reward column; done0(starts) the
  -- initial flags (default 0)
  function mbirl:rollout(reward, actor, done0)
    local cfg = self.cfg
    local starts = self:starts(cfg.rollout_batch)
    local r = cil.rollout.run(self.dyn, actor or self.sac.actor, starts, {horizon = cfg.horizon, rng = self.rng,
      done0 = done0 and done0(starts),
      buffer = self.model_buf, env = cfg.env, mean = self.mean, std = self.std, sticky = true, continue = "bounded",
      penalty = reward ~= nil, reward = reward})
    return r.log
  end

  function mbirl:reward_step()
    local cfg, R = self.cfg, self.reward
    local e, m = self.experts:sample(cfg.batch_size, self.rng), self.model_buf:sample(cfg.batch_size, self.rng)
    local xe, xm = mbirl.cat(e.obs, e.act), mbirl.cat(m.obs, m.act)
    local gp, gnorm = cil.gradient_penalty(R, xe, xm, cfg.grad_target, self.rng)
    local l2 = cil.l2(self.reward_params)
    local re, rm = R(xe), R(xm)
    local adv = -(re:mean() - rm:mean())
    local loss = adv + gp * cfg.grad_penalty + l2 * cfg.l2_penalty
    local reward_abs = cil.no_grad(function() return ((re:abs():mean() + rm:abs():mean()) * 0.5):item() end)
    cil.optim.minimize(self.reward_opt, loss, self.reward_params, cfg.grad_clip)
    return {reward_loss = adv:item(), reward_total_loss = loss:item(), grad_penalty = gp:item(), grad_norm = gnorm:item(),
      l2 = l2:item(), reward_abs = reward_abs}
  end

  -- a policy batch: 128 transition + 128 model rows (all transition rows while the model buffer is small)
  function mbirl:batch()
    local cfg = self.cfg
    if self.model_buf:size() >= cfg.batch_size then
      return cil.data.sample_mixed(self.transitions, self.model_buf, cfg.batch_size, cfg.real_ratio, self.rng)
    end
    return self.transitions:sample(cfg.batch_size, self.rng)
  end

  -- the offline loop with the expert probe, and checkpoints of everything here plus extra(state)
  function mbirl:train(step, extra_state, load_extra)
    local M = self
    return M.loop:train{
      actor = M.sac.actor, step = step,
      log_extra = function(row)
        local g = cil.rng(cil.run.eval_seed(M.cfg, row.step) + 17)
        row.train_act_logp, row.train_act_mae = cil.offline.probe(M.sac.actor, M.expert_data, g)
      end,
      state = function()
        local s = {sac = M.sac:state(), reward = M.reward:state_dict(), reward_opt = M.reward_opt:state()}
        for k, v in pairs(extra_state and extra_state() or {}) do s[k] = v end
        return s
      end,
      extra_checkpoint = function() return {model_buffer = M.model_buf} end,
      load = function(s, ck)
        M.sac:load_state(s.sac); M.reward:load_state_dict(s.reward, M.loop.run.algo .. " reward")
        M.reward_opt:load_state(s.reward_opt)
        M.model_buf = ck.model_buffer
        if load_extra then load_extra(s) end
      end,
    }
  end

  cil.mbirl = mbirl
end
