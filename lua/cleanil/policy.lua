-- Trained policies on disk: load the actor of a policy file or a training checkpoint, and roll it out
-- on the real environment. Used by tools/collect.lua (demonstrations) and the shipped-data test.
return function(cil)
  local policy = {}

  -- A policy file ({actor = ..., [obs_mean, obs_std]}) or a sac/gail checkpoint ({learner = {sac = ...}}).
  -- opts.hidden / opts.activation describe the actor (defaults: the spec's 3 x 256 SiLU).
  function policy.load(path, env_name, opts)
    opts = opts or {}
    local spec = cil.env.spec(env_name)
    local actor = cil.TanhNormalActor(spec.obs_dim, spec.act_dim, opts.hidden or {256, 256, 256},
      {activation = opts.activation or "silu"})
    local ck = cil.checkpoint.load(path)
    local weights = ck.actor or (ck.learner and ck.learner.sac and ck.learner.sac.actor) or (ck.sac and ck.sac.actor)
    if not weights then
      error("policy: " .. path .. " holds no actor (expected 'actor' or 'learner.sac.actor')", 0)
    end
    actor:load_state_dict(weights, "policy " .. path)
    -- a policy trained on normalized observations (BC, IQ-Learn, ...) stores its statistics with it
    local mean, std = ck.obs_mean, ck.obs_std
    return {actor = actor, env = env_name, spec = spec,
      input = function(o) return mean and (o - mean) / std or o end}
  end

  -- Episodes one after another on one env. Episode e resets with seed rng:random(2^31 - 1) of
  -- cil.rng(opts.seed); actions are sampled from the policy (opts.deterministic: the mean action).
  -- opts.on_step(t) is called after every step with {obs, action, next_obs, reward, terminated,
  -- timeout, qpos, qvel, log_prob} (persistent obs/action rows). Returns the list of episode returns.
  function policy.rollout(p, opts)
    local rng = cil.rng(opts.seed or 1)
    local env = cil.env.make(p.env, {num_envs = 1, seed = opts.seed or 1})
    local returns = {}
    for ep = 1, opts.episodes or 10 do
      local obs = env:reset_one(1, rng:random(2 ^ 31 - 1)):reshape(1, p.spec.obs_dim):persist()
      local R = 0
      for t = 1, 1000 do
        cil.reset()
        local qpos, qvel = env:qpos(1), env:qvel(1)
        local d = cil.no_grad(function() return p.actor(p.input(obs)) end)
        local a = (opts.deterministic and d:mode() or d:sample(rng)):persist()
        local o2, r, term = env:step(a)
        R = R + r[1]
        if opts.on_step then
          opts.on_step{obs = obs, action = a, next_obs = o2, reward = r[1], terminated = term[1],
            timeout = (t == 1000 and term[1] == 0) and 1 or 0, qpos = qpos:reshape(1, -1):persist(),
            qvel = qvel:reshape(1, -1):persist(), log_prob = cil.no_grad(function() return d:log_prob(a) end)[1]}
        end
        if term[1] > 0 then break end
        obs = o2
      end
      returns[ep] = R
      if opts.progress then io.write(string.format("\repisode %d/%d return %.1f", ep, opts.episodes, R)); io.flush() end
    end
    if opts.progress then print() end
    return returns
  end

  -- Vectorized collection of `opts.rows` transitions (as D4RL's medium-v2 / expert-v2 files): opts.envs
  -- envs step together; env i starts each episode with seed rng:random(2^31 - 1) of cil.rng(opts.seed)
  -- (drawn in env order whenever envs need a new episode); actions are sampled from the policy.
  -- Episodes are written whole in the order they end; the file is cut at exactly `rows` rows, so its
  -- last episode may be unfinished (no terminal, no timeout), as in D4RL's files. Returns a dataset
  -- table (infos/qpos, qvel before each step, action_log_probs) and the returns of its complete episodes.
  function policy.collect(p, opts)
    local R, N = opts.rows, opts.envs or 100
    if math.type(R) ~= "integer" or R < 1 then error("policy.collect: rows must be a positive integer", 2) end
    local rng = cil.rng(opts.seed or 1)
    local env = cil.env.make(p.env, {num_envs = N, seed = opts.seed or 1})
    local O, A = p.spec.obs_dim, p.spec.act_dim
    for i = 1, N do env:reset_one(i, rng:random(2 ^ 31 - 1)) end
    local obs = env:observation():persist()
    local steps = {}                                          -- per step: persistent [N, *] columns
    local open = {}                                           -- per env: step index its episode began at
    for i = 1, N do open[i] = 1 end
    local episodes, done_rows, returns, ret = {}, 0, {}, {}
    for i = 1, N do ret[i] = 0 end
    local t, shown = 0, nil
    while done_rows < R do
      t = t + 1
      cil.reset()
      local qpos, qvel = {}, {}
      for i = 1, N do qpos[i] = env:qpos(i):reshape(1, -1); qvel[i] = env:qvel(i):reshape(1, -1) end
      local d = cil.no_grad(function() return p.actor(p.input(obs)) end)
      local a = d:sample(rng)
      local logp = cil.no_grad(function() return d:log_prob(a) end)
      local o2, r, term, trunc = env:step(a)
      steps[t] = {obs = obs, act = a:persist(), rew = r:persist(), next_obs = o2:persist(), term = term:persist(),
        tout = (trunc * (1 - term)):persist(), qpos = cil.cat(qpos, 1):persist(), qvel = cil.cat(qvel, 1):persist(),
        logp = logp:persist()}
      local rr, tt, tr = r:totable(), term:totable(), trunc:totable()
      local reset = false
      for i = 1, N do
        ret[i] = ret[i] + rr[i]
        if tt[i] > 0 or tr[i] > 0 then
          episodes[#episodes + 1] = {env = i, first = open[i], last = t}
          done_rows = done_rows + (t - open[i] + 1)
          returns[#returns + 1] = ret[i]
          ret[i], open[i] = 0, t + 1
          env:reset_one(i, rng:random(2 ^ 31 - 1))
          reset = true
        end
      end
      obs = reset and env:observation():persist() or steps[t].next_obs
      if opts.progress and (done_rows >= R or cil.sys.clock() - (shown or 0) > 2) then
        shown = cil.sys.clock()
        io.write(string.format("\r%s: %d/%d rows", p.env, math.min(done_rows, R), R)); io.flush()
      end
    end
    if opts.progress then print() end
    -- gather the episodes' rows (step-major storage: row (t - 1) * N + i) in completion order
    local idx, n = {}, 0
    for _, e in ipairs(episodes) do
      for s = e.first, e.last do
        if n < R then n = n + 1; idx[n] = (s - 1) * N + e.env end
      end
    end
    local function column(k)
      local parts = {}
      for s = 1, t do parts[s] = steps[s][k] end
      local all = cil.cat(parts, 1)
      return cil.data.take(all:dim() == 1 and all:reshape(-1, 1) or all, idx)
    end
    local function flat(k) local c = column(k); return c:reshape(c:size(1)):persist() end
    local out = {observations = column("obs"), actions = column("act"), rewards = flat("rew"),
      next_observations = column("next_obs"), terminals = flat("term"), timeouts = flat("tout"),
      infos = {qpos = column("qpos"), qvel = column("qvel"), action_log_probs = flat("logp")}}
    -- the episodes cut by the row limit are not complete
    local complete = {}
    local acc = 0
    for k, e in ipairs(episodes) do
      acc = acc + (e.last - e.first + 1)
      if acc <= R then complete[#complete + 1] = returns[k] end
    end
    cil.reset()
    return out, complete
  end

  cil.policy = policy
end
