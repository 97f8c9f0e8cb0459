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

  cil.policy = policy
end
