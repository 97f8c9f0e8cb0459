-- The adversarial model update of rmirl, rmirl_implicit and rambo (algorithms.md §3.6): S gradient steps
-- on the ensemble, each on
--   L = adv_penalty L_adv + L_SL(next 256-row slice of a per-member permutation of the SL rows)
--   L_adv = mean(Â log p(y~ | ô, a)) / (obs_dim + 1),  Â = clip((A - mean A) / (std A + 1e-6), +-10)
-- where y~ is this step's sampled model output (no grad) on a batch of rollout states, and A the
-- algorithm's advantage of (ô, a, ô', r^, d) (no grad). Minimizing it lowers the likelihood of
-- high-advantage outcomes: a pessimistic model. The rollout batch continues its rows with every
-- |ô'| < 30, refilled with fresh start states, and is redrawn every rollout_steps steps.
return function(cil)
  local adversarial = {}

  -- dyn: the ensemble; opt: its Adam (the update's own); o: steps, batch_size, rollout_steps,
  --   adv_penalty, grad_clip, rng, actor, deterministic, env, mean, std, sticky,
  --   starts(n) -> obs [n, O], done [n, 1];  advantage(obs, act, next_obs, reward, done) -> A [B]
--   (and optionally the next-state value it used, logged as adv_v_next_mean);
  --   sl = {x = inputs [N, in], y = targets [N, D]} (the SL rows; the scaler is refit on their train part)
  -- Returns logging stats, each the mean over the S steps as the reference logs them (adv_loss, sl_loss,
  -- adv_mean, adv_std, adv_v_next_mean, adv_logp_mean, adv_logp_std), and the held-out MAE of the SL
  -- rows after the update.
  function adversarial.update(dyn, opt, o)
    local rng, B, E, O = o.rng, o.batch_size, dyn.members, dyn.obs_dim
    local trainer = cil.DynamicsTrainer(dyn, {batch_size = B})
    local split = trainer:format(o.sl.x, o.sl.y, rng)          -- eval <= 1000 rows; scaler refit
    local params = dyn:parameters()
    local n = split.n
    local perm, pos = nil, n
    local cur, dcur = cil.persistent(B, O), cil.persistent(B, 1)
    local function refill(k, from)                             -- rows from..B get fresh starts
      if from > B then return end
      local s, d = o.starts(B - from + 1)
      cur:narrow(1, from, B - from + 1):copy_(s)
      dcur:narrow(1, from, B - from + 1):copy_(d)
    end
    local stats = {}
    local function add(key, v) stats[key] = (stats[key] or 0) + v / o.steps end   -- means over the S steps
    local term_opts = {mean = o.mean, std = o.std}
    for k = 0, o.steps - 1 do
      cil.reset()
      if k % o.rollout_steps == 0 then refill(k, 1) end
      if pos + B > n then                                      -- a fresh per-member permutation
        local cols = {}
        for e = 1, E do cols[e] = cil.randperm(rng, n):reshape(1, n) end
        perm, pos = cil.cat(cols, 1):persist(), 0
      end
      local idx = perm:narrow(2, pos + 1, B):reshape(E * B)
      pos = pos + B
      local obs, d0 = cur, dcur
      local act = cil.no_grad(function()
        local dist = o.actor(obs)
        return o.deterministic and dist:mode() or dist:sample(rng)
      end)
      local o2, r, y = dyn:step(obs, act, rng)
      local d = cil.env.termination(o.env, o2, term_opts)
      if o.sticky then d = d:maximum(d0) end
      local adv = cil.no_grad(function()
        local A, v_next = o.advantage(obs, act, o2, r, d)
        A = A:reshape(B)
        local m = A:mean()
        local sd = ((A - m):square():sum() / (B - 1)):sqrt()
        add("adv_mean", m:item()); add("adv_std", sd:item())
        if v_next then add("adv_v_next_mean", v_next:mean():item()) end
        return ((A - m) / (sd + 1e-6)):clamp(-10, 10)
      end)
      local logp = dyn:log_prob(obs, act, y)
      local l_adv = (adv * logp):mean() / (O + 1)
      local l_sl = dyn:loss(split.x:index_select(1, idx):reshape(E, B, -1), split.y:index_select(1, idx):reshape(E, B, -1))
      local loss = l_adv * o.adv_penalty + l_sl
      cil.optim.minimize(opt, loss, params, o.grad_clip)
      cil.no_grad(function()
        local lp = logp:detach()
        local lm = lp:mean()
        add("adv_loss", l_adv:item()); add("sl_loss", l_sl:item()); add("adv_logp_mean", lm:item())
        add("adv_logp_std", ((lp - lm):square():sum() / (B - 1)):sqrt():item())
      end)
      -- continue the rows inside the box, refill the others
      local keep = cil.data.mask_index(o2:abs():max(2):lt(30))
      local m = keep:numel()
      if m > 0 then
        local on, dn = o2:index_select(1, keep), d:index_select(1, keep)
        cur:narrow(1, 1, m):copy_(on)
        dcur:narrow(1, 1, m):copy_(dn)
      end
      refill(k, m + 1)
    end
    cil.reset()
    local mae = trainer:evaluate(split.eval_x or split.x, split.eval_y or split.y)
    local s = 0
    for e = 1, E do s = s + mae[e] / E end
    stats.mae = s
    return stats
  end

  cil.adversarial = adversarial
end
