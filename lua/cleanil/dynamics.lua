-- The dynamics ensemble of the model-based methods (algorithms.md §3): E members, each an MLP
-- [ô, a] -> [mu, l] over D = obs (+1 reward) outputs, soft-clamped log-variance with learned bounds,
-- an elite distribution p over members, and its training procedure (§3.3).
return function(cil)
  local Dyn = setmetatable({}, {__index = cil.nn.Module})
  Dyn.__index = Dyn
  Dyn.__call = cil.nn.Module.__call
  Dyn.defaults = {members = 7, elites = 5, hidden = {200, 200, 200}, activation = "silu",
    min_std = 0.04, max_std = 1.6, decays = {2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4}, pred_reward = true}
  local HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

  function cil.EnsembleDynamics(obs_dim, act_dim, cfg)
    cfg = setmetatable(cfg or {}, {__index = Dyn.defaults})
    local D = obs_dim + (cfg.pred_reward and 1 or 0)
    local nin = obs_dim + act_dim
    local self = setmetatable({cfg = cfg, obs_dim = obs_dim, act_dim = act_dim, out_dim = D,
      members = cfg.members, pred_reward = cfg.pred_reward, _params = {}}, Dyn)
    self.net = cil.nn.EnsembleMLP(cfg.members, nin, cfg.hidden, 2 * D, {activation = cfg.activation, rng = cfg.rng})
    self.min_lv = cil.param(cil.full({D}, math.log(cfg.min_std ^ 2)))
    self.max_lv = cil.param(cil.full({D}, math.log(cfg.max_std ^ 2)))
    self._params = {{"min_lv"}, {"max_lv"}}
    self._children = {{"net", self.net}}
    -- input scaler (x - m) / sqrt(v), refit on training inputs
    self.scaler_mean = cil.persistent(nin)
    self.scaler_std = cil.persistent(nin):fill_(1)
    self:set_elites(nil)
    return self
  end
  function Dyn:fit_scaler(x)
    local m, s = cil.data.obs_stats(x)
    self.scaler_mean:copy_(m)
    self.scaler_std:copy_(s)
  end

  -- the elite distribution: p_e = 1/k on the k members listed (1-based), 0 elsewhere; nil = uniform
  function Dyn:set_elites(list)
    local E = self.members
    local p = {}
    for e = 1, E do p[e] = list and 0 or 1 / E end
    for _, e in ipairs(list or {}) do
      if math.type(e) ~= "integer" or e < 1 or e > E then
        error(("EnsembleDynamics: elite %s is not a member 1..%d"):format(tostring(e), E), 2)
      end
      p[e] = 1 / #list
    end
    self.elites = list and {table.unpack(list)} or nil
    self.probs = p
    -- upper cumulative bounds c_e = sum_{j <= e} p_j for e < E; members after the last one with
    -- p > 0 get 2 (never reached), so a member with p = 0 is never picked, whatever the rounding
    local cum, c, last = {}, 0, 0
    for e = 1, E do if p[e] > 0 then last = e end end
    for e = 1, E - 1 do c = c + p[e]; cum[e] = e >= last and 2 or c end
    self.cum = E > 1 and cil.tensor(cum):reshape(1, E - 1):persist() or nil
    -- log-weights of the mixture: ln(p_e + 1e-6), minus 1e6 where p_e = 0
    local lw = {}
    for e = 1, E do lw[e] = math.log(p[e] + 1e-6) - (p[e] == 0 and 1e6 or 0) end
    self.log_w = cil.tensor(lw):reshape(E, 1):persist()
  end

  -- x [E, B, in] (or [B, in] shared) -> mu, lv: [E, B, D]
  --   lv = minlv + softplus((maxlv - softplus(maxlv - l)) - minlv)   (one fused engine op)
  function Dyn:forward(x)
    local out = self.net((x - self.scaler_mean) / self.scaler_std)
    local D = self.out_dim
    return out:narrow(-1, 1, D), cil.soft_clamp(out:narrow(-1, D + 1, D), self.min_lv, self.max_lv)
  end
  -- L_SL = mean (mu - y)^2 e^-lv + mean lv + 0.001 (sum maxlv - sum minlv) + sum_k decay_k/2 ||W_k||^2
  -- (the MLP has 4 weight matrices, so only the first four decays apply, as in the reference)
  function Dyn:loss(x, y)
    local mu, lv = self:forward(x)
    local loss = ((mu - y):square() * (-lv):exp()):mean() + lv:mean()
      + (self.max_lv:sum() - self.min_lv:sum()) * 0.001
    for k, layer in ipairs(self.net.layers) do
      local decay = self.cfg.decays[k]
      if decay then loss = loss + layer.weight:sumsq() * (0.5 * decay) end
    end
    return loss
  end

  ---------------------------------------------------------------------------- using the model (§3.4)
  -- inputs [ô, a] of a batch (shapes checked: a clear message, not a broadcast error deep inside)
  function Dyn:inputs(obs, act)
    local O, A = self.obs_dim, self.act_dim
    if not (cil.is_tensor(obs) and cil.is_tensor(act)) then error("EnsembleDynamics: observations and actions must be tensors", 3) end
    local so, sa = obs:shape(), act:shape()
    if #so ~= 2 or so[2] ~= O or #sa ~= 2 or sa[2] ~= A or sa[1] ~= so[1] then
      error(("EnsembleDynamics: observations [%s] and actions [%s], expected [%d, %d] and [%d, %d]"):format(
        table.concat(so, ", "), table.concat(sa, ", "), so[1] or 0, O, so[1] or 0, A), 3)
    end
    return cil.cat({obs, act}, 2)
  end

  -- one sampled step (no grad): y~_e ~ N(mu_e, sigma_e) for every member, then per row a member
  -- e ~ Categorical(p). Returns ô' = ô + y~[:obs_dim], r^ [B] (reward head; nil without), y~ [B, D],
  -- the picked member of each row (1-based, [B]) and the forward's mu, lv (for the penalty).
  function Dyn:step(obs, act, rng)
    return cil.no_grad(function()
      local mu, lv = self:forward(self:inputs(obs, act))
      local E, B, D = self.members, obs:size(1), self.out_dim
      local y_all = mu + (lv * 0.5):exp() * cil.randn(rng, E, B, D)
      local u = cil.rand(rng, B, 1)
      local member = E > 1 and u:ge(self.cum):sum(2) or cil.zeros(B, 1)        -- 0-based
      local idx = member:reshape(B) * B + cil.arange(1, B + 1)            -- 1-based rows
      local y = y_all:reshape(E * B, D):index_select(1, idx)
      local next_obs = obs + y:narrow(2, 1, self.obs_dim)
      local r = self.pred_reward and y:narrow(2, D, 1):reshape(B) or nil
      return next_obs, r, y, member:reshape(B) + 1, mu, lv
    end)
  end

  -- log p(y | ô, a) of the mixture: logsumexp_e( sum_dims log N(y; mu_e, sigma_e) + ln(p_e + 1e-6) ),
  -- minus 1e6 where p_e = 0. obs, act [B, *], y [B, D] -> [B] (differentiable in the parameters).
  function Dyn:log_prob(obs, act, y)
    local mu, lv = self:forward(self:inputs(obs, act))
    local lp = ((mu - y):square() * (-lv):exp() * -0.5 - lv * 0.5 - HALF_LOG_2PI):sum(3)   -- [E, B]
    return (lp + self.log_w):logsumexp(1)
  end

  -- the uncertainty penalty over all members: mean_dims sqrt(mean_e sigma_e^2 + var_e mu_e), var
  -- unbiased over members, dims = all D outputs. From a forward's mu, lv [E, B, D] -> [B].
  function Dyn.penalty(mu, lv)
    return cil.no_grad(function()
      local E = mu:size(1)
      local var = E > 1 and (mu - mu:mean(1, true)):square():sum(1) / (E - 1) or mu[1] * 0
      return (lv:exp():mean(1) + var):sqrt():mean(-1)
    end)
  end

  -- drop the reward column from the mu and lv halves of the output layer and from the lv bounds
  function Dyn:remove_reward_head()
    if not self.pred_reward then return self end
    local D, O = self.out_dim, self.obs_dim
    local last = self.net.layers[#self.net.layers]
    local function keep(t, dim) -- columns 1..O and D+1..D+O of the last dim
      return cil.cat({t:narrow(dim, 1, O), t:narrow(dim, D + 1, O)}, dim)
    end
    last.weight = cil.param(keep(last.weight, 3))
    last.bias = cil.param(keep(last.bias, 3))
    last.out_features = 2 * O
    self.min_lv = cil.param(self.min_lv:narrow(1, 1, O))
    self.max_lv = cil.param(self.max_lv:narrow(1, 1, O))
    self.out_dim, self.pred_reward = O, false
    return self
  end

  -- keep only the elite members (in member order); p becomes uniform over them
  function Dyn:keep_elites()
    if not self.elites then error("EnsembleDynamics:keep_elites: no elites chosen yet", 2) end
    local keep = {table.unpack(self.elites)}
    table.sort(keep)
    local idx = cil.tensor(keep)
    for _, layer in ipairs(self.net.layers) do
      layer.weight = cil.param(layer.weight:index_select(1, idx))
      layer.bias = cil.param(layer.bias:index_select(1, idx))
      layer.members = #keep
    end
    self.net.members, self.members = #keep, #keep
    self:set_elites(nil)
    return self
  end

  ---------------------------------------------------------------------------- training (§3.3)
  -- Trainer: Adam (its state persists across fit calls: MBPO retrains warm), the improvement rule,
  -- early stopping, restore of each member's best layer parameters, elites of the last epoch.
  local Trainer = {}
  Trainer.__index = Trainer
  function cil.DynamicsTrainer(dyn, opts)
    opts = opts or {}
    local self = setmetatable({dyn = dyn, lr = opts.lr or 3e-4, grad_clip = opts.grad_clip or 1000,
      batch_size = opts.batch_size or 256, eval_ratio = opts.eval_ratio or 0.2, max_eval = opts.max_eval or 1000,
      max_stale = opts.max_stale or 10, improve = opts.improve or 0.01}, Trainer)
    self.params = dyn:parameters()
    self.opt = cil.optim.Adam(self.params, {lr = self.lr})
    return self
  end

  -- the layer tensors of member e (weights and biases, not the lv bounds)
  local function layer_tensors(dyn)
    local ts = {}
    for _, layer in ipairs(dyn.net.layers) do ts[#ts + 1] = layer.weight; ts[#ts + 1] = layer.bias end
    return ts
  end

  -- per-member held-out MAE mean|mu_e - y| and -mean per-dim log N(y; mu_e, sigma_e) (lists of E)
  function Trainer:evaluate(x, y)
    return cil.no_grad(function()
      local mu, lv = self.dyn:forward(x)
      local mae = (mu - y):abs():mean(3):mean(2)
      local nll = ((mu - y):square() * (-lv):exp() * 0.5 + lv * 0.5 + HALF_LOG_2PI):mean(3):mean(2)
      return mae:totable(), nll:totable()
    end)
  end

  -- Split x [N, in], y [N, D]: a permutation from rng; eval = its last min(floor(ratio N), max_eval)
  -- rows; the scaler is refit on the train inputs. Returns a split table.
  function Trainer:format(x, y, rng)
    local N = x:size(1)
    if y:size(1) ~= N then error(("DynamicsTrainer: %d input rows but %d target rows"):format(N, y:size(1)), 2) end
    local ne = math.min(math.floor(self.eval_ratio * N), self.max_eval)
    if N - ne < self.batch_size then
      error(("DynamicsTrainer: %d training rows, fewer than one batch of %d"):format(N - ne, self.batch_size), 2)
    end
    local perm = cil.randperm(rng, N)
    local tr, ev = perm:narrow(1, 1, N - ne), perm:narrow(1, N - ne + 1, ne)
    local s = {x = cil.data.take(x, tr), y = cil.data.take(y, tr), n = N - ne}
    if ne > 0 then s.eval_x, s.eval_y = cil.data.take(x, ev), cil.data.take(y, ev) end
    self.dyn:fit_scaler(s.x)
    return s
  end

  -- one epoch: an independent permutation per member, consecutive slices of batch_size rows (the
  -- last partial slice dropped), one Adam step on L_SL per slice. Returns the mean loss.
  function Trainer:epoch(s, rng)
    local E, n, B = self.dyn.members, s.n, self.batch_size
    local cols = {}
    for e = 1, E do cols[e] = cil.randperm(rng, n):reshape(1, n) end
    local perm = cil.cat(cols, 1):persist()                  -- [E, n]
    local O, D = s.x:size(2), s.y:size(2)
    local total, steps = 0, math.floor(n / B)
    for k = 0, steps - 1 do
      cil.reset()
      local idx = perm:narrow(2, k * B + 1, B):reshape(E * B)
      local loss = self.dyn:loss(s.x:index_select(1, idx):reshape(E, B, O), s.y:index_select(1, idx):reshape(E, B, D))
      self.opt:zero_grad()
      loss:backward()
      cil.optim.clip_grad_norm(self.params, self.grad_clip)
      self.opt:step()
      total = total + loss:item()
    end
    cil.reset()
    return total / math.max(steps, 1)
  end

  -- Train until no member improved for more than max_stale epochs (or max_epochs). opts.on_epoch(info)
  -- after each epoch gets {epoch, loss, mae = {...}, nll = {...}, improved, stale}; opts.state resumes a
  -- fit from fit_state(). Returns {epochs, elites, mae (last epoch), nll}.
  function Trainer:fit(s, rng, opts)
    opts = opts or {}
    local dyn, E = self.dyn, self.dyn.members
    local st = opts.state or {epoch = 0, stale = 0, best = {}}
    if not opts.state then
      for e = 1, E do st.best[e] = 1e6 end
      st.snapshot = {}
      for i, t in ipairs(layer_tensors(dyn)) do st.snapshot[i] = t:persist() end
    end
    self.fit_state = st
    local max_epochs = opts.max_epochs or 500
    local mae, nll
    while st.epoch < max_epochs and st.stale <= self.max_stale do
      st.epoch = st.epoch + 1
      local loss = self:epoch(s, rng)
      mae, nll = self:evaluate(s.eval_x or s.x, s.eval_y or s.y)
      local improved = 0
      local ts = layer_tensors(dyn)
      for e = 1, E do
        if (st.best[e] - mae[e]) / (st.best[e] + 1e-6) > self.improve then
          st.best[e] = mae[e]
          improved = improved + 1
          cil.no_grad(function()
            for i, t in ipairs(ts) do st.snapshot[i]:narrow(1, e, 1):copy_(t:narrow(1, e, 1)) end
          end)
        end
      end
      st.stale = improved > 0 and 0 or st.stale + 1
      st.last_mae, st.last_nll = mae, nll
      if opts.on_epoch then opts.on_epoch{epoch = st.epoch, loss = loss, mae = mae, nll = nll,
        improved = improved, stale = st.stale} end
    end
    return self:finish()
  end

  -- restore each member's best layer parameters; elites = the k lowest MAEs of the last epoch
  function Trainer:finish()
    local dyn, st = self.dyn, self.fit_state
    cil.no_grad(function() for i, t in ipairs(layer_tensors(dyn)) do t:copy_(st.snapshot[i]) end end)
    local order = {}
    for e = 1, dyn.members do order[e] = e end
    local mae = st.last_mae
    table.sort(order, function(a, b) if mae[a] ~= mae[b] then return mae[a] < mae[b] end return a < b end)
    local elites = {}
    for i = 1, math.min(dyn.cfg.elites, dyn.members) do elites[i] = order[i] end
    dyn:set_elites(elites)
    return {epochs = st.epoch, elites = elites, mae = st.last_mae, nll = st.last_nll}
  end

  -- everything a checkpoint of a fit in progress needs (the trainer's optimizer and fit state)
  function Trainer:state()
    return {opt = self.opt:state(), fit = self.fit_state}
  end
  function Trainer:load_state(s)
    self.opt:load_state(s.opt)
    self.fit_state = s.fit
  end

  ---------------------------------------------------------------------------- files
  -- a saved model: parameters, scaler, elites, the observation statistics of its data, and what it is
  function Dyn:save(path, extra)
    local t = {model = self:state_dict(), scaler_mean = self.scaler_mean, scaler_std = self.scaler_std,
      elites = self.elites, kind = "cleanil dynamics ensemble",
      spec = {obs_dim = self.obs_dim, act_dim = self.act_dim, members = self.members,
        hidden = self.cfg.hidden, activation = self.cfg.activation, pred_reward = self.pred_reward,
        elites = self.cfg.elites, min_std = self.cfg.min_std, max_std = self.cfg.max_std}}
    for k, v in pairs(extra or {}) do t[k] = v end
    cil.checkpoint.save(path, t)
  end

  -- load a saved model; env (optional) is checked against its dimensions. Returns dyn and the file table.
  function cil.load_dynamics(path, env)
    local ok, t = pcall(cil.checkpoint.load, path)
    if not ok then error("load_dynamics: " .. tostring(t), 2) end
    if type(t) ~= "table" or t.kind ~= "cleanil dynamics ensemble" or type(t.spec) ~= "table" then
      error("load_dynamics: " .. path .. " is not a saved dynamics ensemble", 2)
    end
    local sp = t.spec
    if env then
      local es = cil.env.spec(env)
      if es.obs_dim ~= sp.obs_dim or es.act_dim ~= sp.act_dim or (t.env and t.env ~= env) then
        error(("load_dynamics: %s is a model of %s (obs %d, act %d), not of %s (obs %d, act %d)"):format(
          path, tostring(t.env or "?"), sp.obs_dim, sp.act_dim, env, es.obs_dim, es.act_dim), 2)
      end
    end
    local dyn = cil.EnsembleDynamics(sp.obs_dim, sp.act_dim, {members = sp.members, hidden = sp.hidden,
      activation = sp.activation, pred_reward = sp.pred_reward, elites = sp.elites,
      min_std = sp.min_std, max_std = sp.max_std})
    dyn:load_state_dict(t.model, "load_dynamics " .. path)
    dyn.scaler_mean:copy_(t.scaler_mean)
    dyn.scaler_std:copy_(t.scaler_std)
    if t.elites then
      local list = {}
      for i, e in ipairs(t.elites) do list[i] = math.tointeger(e) or e end
      dyn:set_elites(list)
    end
    return dyn, t
  end

  function Dyn:describe() return "EnsembleDynamics(" .. self.net:describe() .. ")" end
end
