-- Reward models and the gradient penalty (algorithms.md §2.6), shared by GAIL, IBC and the IRL methods.
return function(cil)
  local Reward = setmetatable({}, {__index = cil.nn.Module})
  Reward.__index = Reward
  Reward.__call = cil.nn.Module.__call

  -- R(x): MLP on x = [o, a] (use_done: x = [(1 - d) [o, a], d]), output clipped to +-max_reward
  function cil.RewardModel(obs_dim, act_dim, cfg)
    local self = setmetatable({use_done = cfg.use_done, max_reward = cfg.max_reward, _params = {}}, Reward)
    local nin = obs_dim + act_dim + (cfg.use_done and 1 or 0)
    self.net = cil.nn.MLP(nin, cfg.hidden, 1, {activation = cfg.activation, rng = cfg.rng})
    self._children = {{"net", self.net}}
    return self
  end
  -- the model input for rows (o, a, d); d is [B, 1]
  function Reward:inputs(o, a, d)
    local x = cil.cat({o, a}, 2)
    if not self.use_done then return x end
    return cil.cat({x * (1 - d), d}, 2)
  end
  function Reward:forward(x)
    return self.net(x):clamp(-self.max_reward, self.max_reward)
  end
  function Reward:describe() return "RewardModel(" .. self.net:describe() .. ")" end

  -- GP(f; x_r, x_f; c) = mean(max(n - c, 0)^2), n = ||d sum f(x~) / d x~||_inf per row,
  -- x~ = beta x_r + (1 - beta) x_f with beta ~ U(0, 1) per row, a new leaf. Returns gp, mean(n).
  function cil.gradient_penalty(f, x_real, x_fake, c, rng)
    local beta = cil.rand(rng, x_real:size(1), 1)
    local x = (x_real * beta + x_fake * (1 - beta)):detach():requires_grad_()
    local g = cil.grad(f(x):sum(), x, {create_graph = true})
    local n = g:abs():max(2)
    return (n - c):clamp(0):square():mean(), n:mean():detach()
  end

  -- The same penalty for the E members of an ensemble f (x [E, B, in] -> [E, B, 1], e.g. DoubleQ) with
  -- an independent beta per member: 1/E sum_e GP(f_e; x_r, x_f; c). Returns gp, mean(n).
  function cil.gradient_penalty_members(f, E, x_real, x_fake, c, rng)
    local B = x_real:size(1)
    local beta = cil.rand(rng, E, B, 1)
    local x = (x_real * beta + x_fake * (1 - beta)):detach():requires_grad_()
    local g = cil.grad(f(x):sum(), x, {create_graph = true})
    local n = g:abs():max(3)                                  -- [E, B]
    return (n - c):clamp(0):square():mean(), n:mean():detach()
  end

  -- l2(net) = 1/2 sum theta^2 over all parameters
  function cil.l2(params)
    local s
    for _, p in ipairs(params) do
      local t = p:sumsq()
      s = s and s + t or t
    end
    return s * 0.5
  end
end
