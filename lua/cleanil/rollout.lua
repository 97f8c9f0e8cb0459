-- Model rollouts (algorithms.md §3.4; used by omlirl, rmirl, rmirl_implicit §4.7-4.9, mbpo, mopo,
-- rambo §5.2-5.4). From N start states ô (normalized; raw for MBPO), for h = 1..H:
--   a ~ pi(ô)  (or tanh mu)          (ô', r^) = model step           pen = penalty(mu, lv)
--   d = term(ô')  [sticky: d = d_prev or term(ô')]
--   append (ô, a, stored reward, ô', d) to the model buffer
--   continue with  "alive": the rows with d = 0 (mbpo, mopo)
--                  "bounded": the rows whose every |ô'_j| < 30, terminated ones included (IRL, rambo)
-- The stored reward is opts.reward(step) if given (mopo: r^ - lambda pen; omlirl: pen), else r^
-- (0 without a reward head). No gradients; each step's intermediates are freed before the next
-- (the surviving rows live in two persistent tensors made once per rollout); work is spread over
-- the run's threads by the engine's ops, and the result is the same for a given seed and thread count.
return function(cil)
  local rollout = {}

  -- opts: horizon, rng, buffer (cil.ReplayBuffer), env (task name for the termination rule),
  --   mean, std (observation statistics the termination de-normalizes with; nil = raw), sqrt_std_quirk,
  --   sticky, done0 (tensor [N] or [N, 1] of initial d; default 0), continue ("alive" | "bounded"),
  --   deterministic (tanh mu actions), penalty (compute pen), reward(step) -> [n] stored reward,
  --   on_step(step). step = {h, obs, act, next_obs, reward, pen, done, member}.
  -- Returns {rows = rows appended, steps = steps taken, pen_step_mean = mean over the steps of each step's
  --   mean pen, log = the logged terms under the reference's names: model_rollout_steps (the scheduled
  --   horizon), model_rollout_steps_run (the steps taken before every row stopped), model_rollout_rows and,
  --   with the penalty, ensemble_pen (= pen_step_mean: the reference logs one mean per step)}.
  function rollout.run(dyn, actor, start, opts)
    local H, rng, buffer = opts.horizon, opts.rng, opts.buffer
    if math.type(H) ~= "integer" or H < 1 then error("rollout: horizon must be a positive integer", 2) end
    if not rng then error("rollout: opts.rng (a generator) is required", 2) end
    local rule = opts.continue or "bounded"
    if rule ~= "alive" and rule ~= "bounded" then
      error("rollout: continue must be 'alive' or 'bounded', got " .. tostring(rule), 2)
    end
    local O = dyn.obs_dim
    if start:dim() ~= 2 or start:size(2) ~= O then
      error(("rollout: start states have shape [%s], expected [N, %d]"):format(table.concat(start:shape(), ", "), O), 2)
    end
    local N = start:size(1)
    local cur, dcur = cil.persistent(N, O), cil.persistent(N, 1)
    cur:copy_(start)
    if opts.done0 then dcur:copy_(opts.done0:reshape(N, 1)) end
    local term_opts = {mean = opts.mean and opts.mean:persist(), std = opts.std and opts.std:persist(),
      sqrt_std_quirk = opts.sqrt_std_quirk}                -- copies that outlive each step's reset
    local n, rows, steps, pen_steps = N, 0, 0, 0
    for h = 1, H do
      cil.reset()
      local o, d_prev = cur:narrow(1, 1, n), dcur:narrow(1, 1, n)
      local a = cil.no_grad(function()
        local dist = actor(o)
        return opts.deterministic and dist:mode() or dist:sample(rng)
      end)
      local o2, r, _, member, mu, lv = dyn:step(o, a, rng)
      local pen = opts.penalty and dyn.penalty(mu, lv) or nil
      local d = cil.env.termination(opts.env, o2, term_opts)
      if opts.sticky then d = d:maximum(d_prev) end
      local step = {h = h, obs = o, act = a, next_obs = o2, reward = r, pen = pen, done = d, member = member}
      local stored = opts.reward and opts.reward(step) or r or cil.zeros(n)
      buffer:add(o, a, stored:reshape(n, 1), o2, d)
      if opts.on_step then opts.on_step(step) end
      rows, steps = rows + n, h
      if pen then pen_steps = pen_steps + pen:sum():item() / n end
      local keep = rule == "alive" and d:reshape(n):eq(0) or o2:abs():max(2):lt(30)
      local idx = cil.data.mask_index(keep)
      local m = idx:numel()
      if m == 0 then break end
      local o_next, d_next = o2:index_select(1, idx), d:index_select(1, idx)
      cur:narrow(1, 1, m):copy_(o_next)
      dcur:narrow(1, 1, m):copy_(d_next)
      n = m
    end
    cil.reset()
    local pen_step_mean = steps > 0 and pen_steps / steps or 0
    return {rows = rows, steps = steps, pen_step_mean = pen_step_mean,
      log = {model_rollout_steps = H, model_rollout_steps_run = steps, model_rollout_rows = rows,
        ensemble_pen = opts.penalty and pen_step_mean or nil}}
  end

  cil.rollout = rollout
end
