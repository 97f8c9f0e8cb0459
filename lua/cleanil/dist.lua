-- Distributions: Normal and the tanh-squashed Normal of the reference actor (algorithms.md §2.2).
return function(cil)
  local dist = {}
  local LN2 = math.log(2)
  local HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
  -- the reference clips actions to [-1+eps, 1-eps] with eps = float32 resolution 1e-6
  local ONE_MINUS_EPS = string.unpack("f", string.pack("f", 1 - 1e-6))
  dist.TANH_CLIP = ONE_MINUS_EPS

  -- Normal(mu, std) with log_std given (tensors of the same shape)
  local Normal = {}
  Normal.__index = Normal
  function dist.Normal(mu, log_std, std)
    return setmetatable({mu = mu, log_std = log_std, std = std or log_std:exp()}, Normal)
  end
  -- per-element log density
  function Normal:log_prob(x)
    local z = (x - self.mu) / self.std
    return z:square() * -0.5 - self.log_std - HALF_LOG_2PI
  end
  -- reparameterized sample mu + std * xi
  function Normal:rsample(rng)
    local shape = self.mu:shape()
    local xi = rng and cil.randn(rng, shape) or cil.randn(shape)
    return self.mu + self.std * xi
  end

  -- TanhNormal: a = tanh(u), u ~ Normal(mu, std); action bounds [-1, 1] (mid 0, half 1)
  local TanhNormal = {}
  TanhNormal.__index = TanhNormal
  function dist.TanhNormal(mu, log_std)
    return setmetatable({base = dist.Normal(mu, log_std), mu = mu}, TanhNormal)
  end
  function TanhNormal:rsample(rng) return self.base:rsample(rng):tanh() end
  function TanhNormal:sample(rng) return cil.no_grad(function() return self:rsample(rng) end) end
  function TanhNormal:mode() return self.mu:tanh() end
  -- log pi(a) summed over action dims, recomputing x = atanh(clip(a)) as the reference does:
  --   sum_j [ log N(x_j; mu_j, std_j) - 2 (ln 2 - x_j - softplus(-2 x_j)) ]
  function TanhNormal:log_prob(a)
    local x = a:clamp(-ONE_MINUS_EPS, ONE_MINUS_EPS):atanh()
    local log_det = (LN2 - x - (x * -2):softplus()) * 2
    return (self.base:log_prob(x) - log_det):sum(-1)
  end
  -- sample and its log-prob in one go (rsample: gradients flow through the sample)
  function TanhNormal:rsample_with_log_prob(rng)
    local a = self:rsample(rng)
    return a, self:log_prob(a)
  end

  return dist
end
