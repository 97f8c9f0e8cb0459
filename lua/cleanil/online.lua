-- The online loop of sac, gail (and recoil_online, mbpo): algorithms.md §2.8.
-- One env; T = epochs*steps_per_epoch + update_after steps; uniform random actions while
-- t+1 < update_after, then stochastic actor samples; reset on termination or at max_episode_steps;
-- learning every step once t+1 > update_after; an evaluation after every epoch after that.
-- Checkpoints carry everything (learner, buffer, generator, env state) so a resumed run equals an
-- uninterrupted one.
return function(cil)
  local online = {}

  local Loop = {}
  Loop.__index = Loop

  -- the env, the eval env, the agent's replay buffer and the loop state
  function online.Loop(run, cfg, rng)
    local env = cil.env.make(cfg.env, {num_envs = 1, seed = cfg.seed})
    local L = setmetatable({run = run, cfg = cfg, rng = rng, env = env,
      eval_env = cil.env.make(cfg.env, {num_envs = cfg.eval_episodes, seed = cfg.seed + 100003}),
      obs_dim = env.obs_dim, act_dim = env.act_dim,
      buffer = cil.ReplayBuffer(cfg.buffer_size, env.obs_dim, env.act_dim),
      timeouts = cil.persistent(cfg.buffer_size),                -- for the D4RL-layout export
      S = {step = 0, ep_return = 0, ep_len = 0, episodes = 0, last_train_return = 0, evals = {}, env_seed = 0}},
      Loop)
    -- D4RL's infos of every collected step (qpos, qvel before the step; log pi of the action taken),
    -- kept while cfg.record_infos until drop_infos(): the medium-replay export carries them
    if cfg.record_infos then
      local nq, nv = #select(1, env:state(1)), #select(2, env:state(1))
      L.infos = {qpos = cil.persistent(cfg.buffer_size, nq), qvel = cil.persistent(cfg.buffer_size, nv),
        action_log_probs = cil.persistent(cfg.buffer_size)}
    end
    return L
  end

  -- a batch of the agent's own transitions (timed: the loop reports sampling separately)
  function Loop:sample(n)
    local c = cil.sys.clock()
    local b = self.buffer:sample(n, self.rng)
    self.sample_time = (self.sample_time or 0) + (cil.sys.clock() - c)
    return b
  end

  -- o: actor, learn(step) -> stats, store_reward(r) (optional), extra_state() -> table,
  --    load_extra(tbl), on_eval(mean, S) (optional), eval_obs(o) (optional observation transform),
  --    train_obs(o) (optional: the agent acts on and stores transformed observations, e.g. normalized)
  function Loop:train(o)
    local run, cfg, rng, env, S = self.run, self.cfg, self.rng, self.env, self.S
    local O, A = self.obs_dim, self.act_dim
    local L = self
    local T = cfg.epochs * cfg.steps_per_epoch + cfg.update_after

    local function new_episode()
      S.env_seed = rng:random(2 ^ 31 - 1)
      S.ep_return, S.ep_len = 0, 0
      return env:reset_one(1, S.env_seed):reshape(1, O):persist()
    end
    local function save_checkpoint()
      local qpos, qvel = env:state(1)
      local infos                                        -- only the rows collected so far
      if L.infos then
        local n = L.buffer:size()
        infos = {}
        for k, v in pairs(L.infos) do infos[k] = v:narrow(1, 1, math.max(n, 1)) end
      end
      cil.checkpoint.save(run:checkpoint_path(), {algo = run.algo, env = cfg.env, state = S,
        learner = o.extra_state(), buffer = L.buffer, timeouts = L.timeouts, rng = rng:state(),
        env_state = {qpos = qpos, qvel = qvel}, infos = infos, config = cfg})
    end

    local obs
    if run.resuming then
      local ck = run:load_checkpoint()
      local path = run:checkpoint_path()
      -- checkpoints before algo/env tags kept the env state under `env`
      local env_state = ck.env_state or (type(ck.env) == "table" and ck.env or nil)
      local function damaged(what)
        error(string.format("%s: %s does not fit this run: %s (a checkpoint of another algorithm, task or config?)",
          run.algo, path, what), 0)
      end
      if type(ck.state) ~= "table" or math.type(ck.state.step) ~= "integer" then damaged("no step counter in 'state'") end
      local is_buf, bo, ba = pcall(function() return ck.buffer:dims() end)
      if not is_buf then damaged("no replay buffer") end
      if bo ~= O or ba ~= A then
        damaged(string.format("its replay buffer holds %d-dim observations and %d-dim actions, the env has %d and %d",
          bo, ba, O, A))
      end
      if type(env_state) ~= "table" then damaged("no env state") end
      for k, v in pairs(ck.state) do S[k] = v end
      -- checkpoints of the first sac.lua kept the learner at the top level
      local ok, err = pcall(o.load_extra, ck.learner or {sac = ck.sac, medium_saved = ck.state.medium_saved})
      if not ok then damaged("its learner state does not load (" .. tostring(err) .. ")") end
      L.buffer = ck.buffer
      L.timeouts:copy_(ck.timeouts)
      if L.infos and ck.infos then
        for k, v in pairs(L.infos) do v:narrow(1, 1, ck.infos[k]:shape()[1]):copy_(ck.infos[k]) end
      elseif not ck.infos then
        L.infos = nil                                    -- dropped before this checkpoint
      end
      rng:set_state(ck.rng)
      env:reset_one(1, S.env_seed)                 -- the same episode start, then its saved state
      env:set_state(1, env_state.qpos, env_state.qvel)
      obs = env:observation()
      run:trim_log(S.step)
      print(string.format("[%s %s] resumed from %s at step %d", run.algo, cfg.env, run:checkpoint_path(), S.step))
    else
      obs = new_episode()
    end

    run:poll_interrupt()                                 -- signals from here on wait for a step boundary
    local stats = {}
    local clock = cil.sys.clock
    local spent = {env = 0, learn = 0, act = 0, eval = 0, other = 0}   -- wall time shares of the loop
    L.spent = spent
    local t_start = clock()
    while S.step < T do
      local t = S.step
      cil.reset()
      local a
      local c0 = clock()
      local logp
      if t + 1 < cfg.update_after then
        a = cil.uniform(rng, -1, 1, 1, A)
        logp = -A * math.log(2)                          -- the uniform density on [-1, 1]^A
      else
        local d = cil.no_grad(function() return o.actor(o.train_obs and o.train_obs(obs) or obs) end)
        a = d:sample(rng)
        if L.infos then logp = cil.no_grad(function() return d:log_prob(a) end)[1] end
      end
      if L.infos then
        local i, qpos, qvel = L.buffer:size() + 1, env:qpos(1), env:qvel(1)
        if i <= cfg.buffer_size then
          L.infos.qpos:narrow(1, i, 1):copy_(qpos:reshape(1, -1))
          L.infos.qvel:narrow(1, i, 1):copy_(qvel:reshape(1, -1))
          L.infos.action_log_probs[i] = logp
        end
      end
      local c1 = clock()
      local obs2, r, term = env:step(a)
      local c2 = clock()
      spent.act, spent.env = spent.act + (c1 - c0), spent.env + (c2 - c1)
      S.ep_return, S.ep_len = S.ep_return + r[1], S.ep_len + 1
      local stored_r = o.store_reward and o.store_reward(r) or r
      local slot = L.buffer:pos()                        -- the ring slot this row goes to (1-based)
      if o.train_obs then L.buffer:add(o.train_obs(obs), a, stored_r:reshape(1, 1), o.train_obs(obs2), term:reshape(1, 1))
      else L.buffer:add(obs, a, stored_r:reshape(1, 1), obs2, term:reshape(1, 1)) end
      local timeout = S.ep_len >= cfg.max_episode_steps  -- our own count: survives a resume
      L.timeouts[slot] = (timeout and term[1] == 0) and 1 or 0
      if term[1] > 0 or timeout then
        S.episodes, S.last_train_return = S.episodes + 1, S.ep_return
        obs = new_episode()
      else
        obs = obs2
      end
      if t + 1 > cfg.update_after then
        local c3 = clock()
        stats = o.learn(t) or {}
        spent.learn = spent.learn + (clock() - c3)
      end
      if t + 1 > cfg.update_after and (t + 1 - cfg.update_after) % cfg.steps_per_epoch == 0 then
        local c4 = clock()
        local returns = cil.run.evaluate(L.eval_env, o.actor, o.eval_obs, cil.run.eval_seed(cfg, t + 1))
        spent.eval = spent.eval + (clock() - c4)
        local mean = 0
        for _, R in ipairs(returns) do S.evals[#S.evals + 1] = R; mean = mean + R / #returns end
        local row = {step = t + 1, eval_return = mean, eval_score = cil.env.normalized_score(cfg.env, mean),
          train_return = S.last_train_return, episodes = S.episodes, steps_per_s = run.rate or 0}
        for k, v in pairs(o.log_extra and o.log_extra(stats, t + 1) or stats) do row[k] = v end
        run:log(row)
        S.last_eval = mean
        if o.on_eval then o.on_eval(mean, S) end
      end
      S.step = t + 1
      local saved = S.step % cfg.checkpoint_every == 0 or S.step == T
      if saved then
        save_checkpoint()
        if o.on_checkpoint then o.on_checkpoint(S) end
      end
      -- a signal (Ctrl-C, a scheduler's notice): checkpoint here, between two steps, and exit
      if S.step < T then run:poll_interrupt(not saved and save_checkpoint or nil, S.step) end
      run:progress(S.step, T, string.format("train return %.1f | last eval %s", S.last_train_return,
        S.last_eval and string.format("%.1f", S.last_eval) or "-"))
    end
    local total = clock() - t_start
    spent.sample = self.sample_time or 0
    spent.learn = spent.learn - spent.sample  -- updates only
    spent.other = math.max(0, total - spent.env - spent.learn - spent.sample - spent.act - spent.eval)
    if total > 0 then
      print(string.format("[%s %s] loop time: updates %.1f%%, sampling %.1f%%, acting %.1f%%, env stepping %.1f%%, evaluation %.1f%%, other %.1f%% of %.0f s",
        run.algo, cfg.env, 100 * spent.learn / total, 100 * spent.sample / total, 100 * spent.act / total,
        100 * spent.env / total, 100 * spent.eval / total, 100 * spent.other / total, total))
    end
    L.total_time = total
    return L
  end

  -- every transition so far, in the D4RL layout (the buffer must not have wrapped), with the
  -- recorded infos (qpos, qvel, action_log_probs) while they are kept
  function Loop:export_d4rl(path, metadata)
    local L = self
    local n = L.buffer:size()
    local rows = L.buffer:rows(1, n)
    local infos
    if L.infos then
      infos = {}
      for k, v in pairs(L.infos) do infos[k] = v:narrow(1, 1, n) end
    end
    cil.data.save_d4rl(path, {
      observations = rows.obs, actions = rows.act, rewards = rows.rew:reshape(n),
      next_observations = rows.next_obs, terminals = rows.done:reshape(n),
      timeouts = L.timeouts:narrow(1, 1, n), infos = infos, metadata = metadata,
    })
    return n
  end

  -- stop recording infos (after the medium-replay export) and free them
  function Loop:drop_infos() self.infos = nil end

  return online
end
