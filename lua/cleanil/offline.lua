-- The offline loop of the expert-only methods (ibc, iqlearn; algorithms.md §1.3-1.4, §2.8-2.9):
-- N expert episodes, a train/eval split, observations normalized with the train split's statistics;
-- epochs x steps_per_epoch iterations; after each epoch an evaluation on the real environment
-- (deterministic, seeded by the step) and likelihood probes on 1000 rows of each split; checkpoints
-- carry everything, so a resumed run equals an uninterrupted one.
return function(cil)
  local offline = {}
  local Loop = {}
  Loop.__index = Loop

  -- opts.transitions: a dataset of suboptimal transitions (recoil): the transition buffer is then the
  -- expert train split and those rows, and the observation statistics come from that union.
  -- opts.experts == false (offline RL: mopo): no demonstrations; opts.mean, opts.std normalize.
  function offline.Loop(run, cfg, rng, opts)
    opts = opts or {}
    local counts = {"epochs", "steps_per_epoch", "batch_size", "eval_episodes", "checkpoint_every"}
    if opts.experts ~= false then counts[#counts + 1] = "num_expert_trajs" end
    for _, k in ipairs(counts) do
      if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then
        error(("%s: --%s must be a positive whole number, got %s"):format(run.algo, k, tostring(cfg[k])), 0)
      end
    end
    if opts.experts == false then
      local mean, std = opts.mean, opts.std
      local L = setmetatable({run = run, cfg = cfg, rng = rng, mean = mean, std = std, experts = {},
        eval_env = cil.env.make(cfg.env, {num_envs = cfg.eval_episodes, seed = cfg.seed + 100003}),
        S = {step = 0, evals = {}}}, Loop)
      L.normalize = function(o) return (o - mean) / std end
      return L
    end
    if not (cfg.train_ratio > 0 and cfg.train_ratio < 1) then
      error(("%s: --train_ratio must lie in (0, 1), got %s"):format(run.algo, tostring(cfg.train_ratio)), 0)
    end
    local experts = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs, {rule = cfg.expert_rule, env = cfg.env})
    local train, held_out = cil.data.train_test_split(experts, cfg.train_ratio, rng)
    local union = opts.transitions and cil.data.combine(train, opts.transitions)
    local mean, std = cil.data.obs_stats((union or train).observations)
    local L = setmetatable({run = run, cfg = cfg, rng = rng, experts = experts, mean = mean, std = std,
      train_data = cil.data.normalize_dataset(train, mean, std), eval_data = cil.data.normalize_dataset(held_out, mean, std),
      eval_env = cil.env.make(cfg.env, {num_envs = cfg.eval_episodes, seed = cfg.seed + 100003}),
      S = {step = 0, evals = {}}}, Loop)
    L.buffer = cil.data.to_buffer(L.train_data)                   -- rows sampled uniformly with replacement
    if union then
      L.transition_data = cil.data.normalize_dataset(union, mean, std)
      L.transitions = cil.data.to_buffer(L.transition_data)
    end
    L.normalize = function(o) return (o - mean) / std end
    return L
  end

  -- mean log pi(a|o) and mean |a_sample - a| on 1000 rows drawn from d (no grad; own generator g)
  function offline.probe(actor, d, g)
    local n = cil.data.num_rows(d)
    if n == 0 then return nil, nil end
    local idx = cil.randint(g, 1, n, 1000)
    local o, a = d.observations:index_select(1, idx), d.actions:index_select(1, idx)
    return cil.no_grad(function()
      local pi = actor(o)
      return pi:log_prob(a):mean():item(), (pi:sample(g) - a):abs():mean():item()
    end)
  end

  -- o: actor, step(t) -> stats (one iteration), state() -> table, load(tbl), log_extra(row) (optional)
  function Loop:train(o)
    local run, cfg, S = self.run, self.cfg, self.S
    local T = cfg.epochs * cfg.steps_per_epoch
    if run.resuming then
      local ck = run:load_checkpoint({strict = true})          -- algo and env must match (or --force_resume)
      for k, v in pairs(ck.state) do S[k] = v end
      o.load(ck.learner, ck)
      self.rng:set_state(ck.rng)
      run:trim_log(S.step)
      print(string.format("[%s %s] resumed from %s at step %d", run.algo, cfg.env, run:checkpoint_path(), S.step))
    end
    run:poll_interrupt()                                       -- signals from here on wait for an iteration's end
    local stats = {}
    while S.step < T do
      cil.reset()
      stats = o.step(S.step) or stats
      S.step = S.step + 1
      if S.step % cfg.steps_per_epoch == 0 then
        local returns = cil.run.evaluate(self.eval_env, o.actor, self.normalize, cil.run.eval_seed(cfg, S.step))
        local m = 0
        for _, R in ipairs(returns) do S.evals[#S.evals + 1] = R; m = m + R / #returns end
        local g = cil.rng(cil.run.eval_seed(cfg, S.step) + 17)  -- probes never touch the training draws
        local row = {step = S.step, eval_return = m, eval_score = cil.env.normalized_score(cfg.env, m)}
        if self.train_data then
          row.train_act_logp, row.train_act_mae = offline.probe(o.actor, self.train_data, g)
          row.eval_act_logp, row.eval_act_mae = offline.probe(o.actor, self.eval_data, g)
        end
        if self.transition_data then
          row.transition_act_logp, row.transition_act_mae = offline.probe(o.actor, self.transition_data, g)
        end
        for k, v in pairs(stats) do row[k] = v end
        if o.log_extra then o.log_extra(row) end
        run:log(row)
        S.last_eval = m
      end
      local function save()
        local ck = {algo = run.algo, env = cfg.env, state = S, learner = o.state(), rng = self.rng:state(), config = cfg}
        for k, v in pairs(o.extra_checkpoint and o.extra_checkpoint() or {}) do ck[k] = v end  -- e.g. buffers
        cil.checkpoint.save(run:checkpoint_path(), ck)
      end
      local saved = S.step % cfg.checkpoint_every == 0 or S.step == T
      if saved then save() end
      -- a signal (Ctrl-C, a scheduler's notice): checkpoint here, between two iterations, and exit
      if S.step < T then run:poll_interrupt(not saved and save or nil, S.step) end
      run:progress(S.step, T, string.format("last eval %s", S.last_eval and string.format("%.1f", S.last_eval) or "-"))
    end
    cil.checkpoint.save(run.dir .. "/policy.h5", {actor = o.actor:state_dict(), obs_mean = self.mean, obs_std = self.std,
      step = S.step})
    return cil.run.finish(run, S.evals, self.experts.demo_return or self.experts.path)
  end

  cil.offline = offline
end
