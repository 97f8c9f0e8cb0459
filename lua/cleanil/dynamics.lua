-- The dynamics ensemble of the model-based methods (algorithms.md §3.1-3.2): E members, each an MLP
-- [o, a] -> [mu, l] over D = obs (+1 reward) outputs, soft-clamped log-variance with learned bounds.
return function(cil)
  local Dyn = setmetatable({}, {__index = cil.nn.Module})
  Dyn.__index = Dyn
  Dyn.__call = cil.nn.Module.__call
  Dyn.defaults = {members = 7, elites = 5, hidden = {200, 200, 200}, activation = "silu",
    min_std = 0.04, max_std = 1.6, decays = {2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4}, pred_reward = true}

  function cil.EnsembleDynamics(obs_dim, act_dim, cfg)
    cfg = setmetatable(cfg or {}, {__index = Dyn.defaults})
    local D = obs_dim + (cfg.pred_reward and 1 or 0)
    local nin = obs_dim + act_dim
    local self = setmetatable({cfg = cfg, obs_dim = obs_dim, act_dim = act_dim, out_dim = D, _params = {}}, Dyn)
    self.net = cil.nn.EnsembleMLP(cfg.members, nin, cfg.hidden, 2 * D, {activation = cfg.activation, rng = cfg.rng})
    self.min_lv = cil.param(cil.full({D}, math.log(cfg.min_std ^ 2)))
    self.max_lv = cil.param(cil.full({D}, math.log(cfg.max_std ^ 2)))
    self._params = {{"min_lv"}, {"max_lv"}}
    self._children = {{"net", self.net}}
    -- input scaler (x - m) / sqrt(v), refit on training inputs
    self.scaler_mean = cil.persistent(nin)
    self.scaler_std = cil.persistent(nin):fill_(1)
    return self
  end
  function Dyn:fit_scaler(x)
    local m, s = cil.data.obs_stats(x)
    self.scaler_mean:copy_(m)
    self.scaler_std:copy_(s)
  end
  -- x [E, B, in] (or [B, in] shared) -> mu, lv: [E, B, D]
  function Dyn:forward(x)
    local out = self.net((x - self.scaler_mean) / self.scaler_std)
    local D = self.out_dim
    local mu, l = out:narrow(-1, 1, D), out:narrow(-1, D + 1, D)
    l = self.max_lv - (self.max_lv - l):softplus()
    return mu, self.min_lv + (l - self.min_lv):softplus()
  end
  -- L_SL = mean (mu - y)^2 e^-lv + mean lv + 0.001 (sum maxlv - sum minlv) + sum_k decay_k/2 ||W_k||^2
  -- (the MLP has 4 weight matrices, so only the first four decays apply, as in the reference)
  function Dyn:loss(x, y)
    local mu, lv = self:forward(x)
    local loss = ((mu - y):square() * (-lv):exp()):mean() + lv:mean()
      + (self.max_lv:sum() - self.min_lv:sum()) * 0.001
    for k, layer in ipairs(self.net.layers) do
      local decay = self.cfg.decays[k]
      if decay then loss = loss + layer.weight:square():sum() * (0.5 * decay) end
    end
    return loss
  end
  function Dyn:describe() return "EnsembleDynamics(" .. self.net:describe() .. ")" end
end
