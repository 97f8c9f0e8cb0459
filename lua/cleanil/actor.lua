-- The reference tanh-Gaussian actor (algorithms.md §2.2): MLP obs -> 2*act; first half mu,
-- second half s; log_std = L0 + (L1 - L0)/2 * (tanh(s) + 1), L0 = ln 1e-3, L1 = ln 3;
-- mu clipped to +-atanh(1 - 1e-6) (7.2477 in float32).
return function(cil)
  local L0, L1 = math.log(1e-3), math.log(3)
  local ONE_MINUS_EPS = string.unpack("f", string.pack("f", 1 - 1e-6))
  local MU_BOUND = 0.5 * math.log((1 + ONE_MINUS_EPS) / (1 - ONE_MINUS_EPS))

  local Actor = setmetatable({}, {__index = cil.nn.Module})
  Actor.__index = Actor
  Actor.__call = cil.nn.Module.__call
  Actor.MU_BOUND = MU_BOUND

  function cil.TanhNormalActor(obs_dim, act_dim, hidden, opts)
    opts = opts or {}
    local self = setmetatable({obs_dim = obs_dim, act_dim = act_dim, _params = {}}, Actor)
    self.net = cil.nn.MLP(obs_dim, hidden or {256, 256, 256}, 2 * act_dim, opts)
    self._children = {{"net", self.net}}
    return self
  end
  -- returns the TanhNormal distribution of actions given observations [B, obs_dim]
  function Actor:forward(obs)
    local out = self.net:forward(obs)
    local A = self.act_dim
    local mu = out:narrow(-1, 1, A):clamp(-MU_BOUND, MU_BOUND)
    local log_std = (out:narrow(-1, A + 1, A):tanh() + 1) * (0.5 * (L1 - L0)) + L0
    return cil.dist.TanhNormal(mu, log_std)
  end
  -- deterministic evaluation action tanh(mu), no graph
  function Actor:act_deterministic(obs)
    return cil.no_grad(function() return self:forward(obs):mode() end)
  end
  function Actor:describe() return "TanhNormalActor(" .. self.net:describe() .. ")" end
  return Actor
end
