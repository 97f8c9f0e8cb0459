-- The advantage-weighted actor with action noise (algorithms.md §2.7), shared by iqlearn and recoil.
--   noised set a [n, A]: a random half of its rows (floor(n/2), by a permutation) get
--     a~ = clip(a + noise xi, m, M), xi ~ N(0, 1), m, M = the set's global (scalar) min and max;
--     the other rows keep a~ = a
--   no grad:  a^ ~ pi(o),  Adv = minQ(o, a~) - minQ(o, a^),  w = min(exp(Adv / alpha), 100)
--   L_pi = -mean(w log pi(a~ | o))
return function(cil)
  local awr = {}

  function awr.noisy_actions(a, noise, rng)
    return cil.no_grad(function()
      local n = a:size(1)
      local perm = cil.randperm(rng, n)
      local mask = cil.zeros(n, 1)
      for _, i in ipairs(perm:narrow(1, 1, n // 2):totable()) do mask[i][1] = 1 end
      local lo, hi = a:min():item(), a:max():item()
      local noised = (a + cil.randn(rng, a:shape()) * noise):clamp(lo, hi)
      return a + (noised - a) * mask, mask
    end)
  end

  -- the loss and what the reference logs (advantage and weight means); critic: a DoubleQ on
  -- input(o, a) (default [o, a])
  local function oa(o, a) return cil.cat({o, a}, 2) end
  function awr.actor_loss(actor, critic, o, a_bar, alpha, rng, input)
    input = input or oa
    local w, adv = cil.no_grad(function()
      local a_hat = actor(o):sample(rng)
      local A = critic:minq(input(o, a_bar)) - critic:minq(input(o, a_hat))
      return (A / alpha):exp():clamp(nil, 100), A
    end)
    local loss = -(w * actor(o):log_prob(a_bar):reshape(-1, 1)):mean()
    return loss, {actor_adv = adv:mean():item(), actor_weight = w:mean():item()}
  end

  cil.awr = awr
end
