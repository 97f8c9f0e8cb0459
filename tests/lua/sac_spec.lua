-- The SAC update against a hand computation on a tiny case (algorithms.md §2.4).
local cil = require "cleanil"

-- log pi(a) of the tanh-Gaussian, computed element by element in double precision
local function logp_by_hand(mu, log_std, a)
  local x = 0.5 * math.log((1 + a) / (1 - a))
  local s = math.exp(log_std)
  return -0.5 * ((x - mu) / s) ^ 2 - log_std - 0.5 * math.log(2 * math.pi)
    - 2 * (math.log(2) - x - math.log(1 + math.exp(-2 * x)))
end

describe("SAC update", function()
  local B, O, A = 4, 3, 1
  local function setup()
    cil.manual_seed(0)
    local sac = cil.SAC(O, A, {hidden = {8}, alpha = 0.7}, cil.rng(42))
    local g = cil.rng(7)
    local b = {obs = cil.randn(g, B, O):persist(), act = (cil.rand(g, B, A) * 1.8 - 0.9):persist(),
      rew = cil.randn(g, B, 1):persist(), next_obs = cil.randn(g, B, O):persist(),
      done = cil.tensor{{0}, {1}, {0}, {0}}:persist()}
    return sac, b
  end

  it("critic target y = r + gamma (1 - d) (min Qbar(o',a') - alpha log pi(a'|o'))", function()
    local sac, b = setup()
    local state = sac.rng:state()
    local y = sac:td_target(b.rew, b.next_obs, b.done)
    sac.rng:set_state(state)
    local d = sac.actor(b.next_obs)
    local a2 = d:sample(sac.rng)                          -- the same draw
    local q = sac.critic_target(cil.cat({b.next_obs, a2}, 2))
    for i = 1, B do
      local lp = logp_by_hand(d.mu[i][1], d.base.log_std[i][1], a2[i][1])
      local minq = math.min(q[1][i][1], q[2][i][1])
      local want = b.rew[i][1] + 0.99 * (1 - b.done[i][1]) * (minq - 0.7 * lp)
      assert.is_true(math.abs(y[i][1] - want) < 1e-4, y[i][1] .. " vs " .. want)
    end
  end)

  it("critic loss is the mean of both heads' squared errors and only the critic moves", function()
    local sac, b = setup()
    local actor_w = sac.actor.net.layers[1].weight:clone()
    local state = sac.rng:state()
    local y = sac:td_target(b.rew, b.next_obs, b.done)
    local q = sac.critic(cil.cat({b.obs, b.act}, 2))
    local want = 0
    for i = 1, B do
      want = want + ((q[1][i][1] - y[i][1]) ^ 2 + (q[2][i][1] - y[i][1]) ^ 2) / (2 * B)
    end
    sac.rng:set_state(state)
    local loss = sac:critic_step(b.obs, b.act, b.rew, b.next_obs, b.done)
    assert.is_true(math.abs(loss:item() - want) < 1e-4)
    assert.are.equal(0, (sac.actor.net.layers[1].weight - actor_w):abs():max():item())
  end)

  it("actor loss mean(alpha log pi - min Q) and alpha loss -mean(alpha (log pi + H))", function()
    local sac, b = setup()
    local state = sac.rng:state()
    local d = sac.actor(b.obs)
    local a = d:sample(sac.rng)
    local q = sac.critic(cil.cat({b.obs, a}, 2))
    local want, lps = 0, {}
    for i = 1, B do
      lps[i] = logp_by_hand(d.mu[i][1], d.base.log_std[i][1], a[i][1])
      want = want + (0.7 * lps[i] - math.min(q[1][i][1], q[2][i][1])) / B
    end
    sac.rng:set_state(state)
    local critic_w = sac.critic.layers[1].weight:clone()
    local loss, logp = sac:actor_step(b.obs)
    assert.is_true(math.abs(loss:item() - want) < 1e-4, loss:item() .. " vs " .. want)
    assert.is_nil(sac.critic.layers[1].weight.grad)        -- no critic weight gradients
    assert.are.equal(0, (sac.critic.layers[1].weight - critic_w):abs():max():item())
    -- temperature: gradient wrt log alpha is -alpha * mean(log pi + H), H = -act_dim
    local mean_lp = 0
    for i = 1, B do mean_lp = mean_lp + lps[i] / B end
    local aloss = sac:alpha_step(logp)
    assert.is_true(math.abs(aloss:item() + 0.7 * (mean_lp - A)) < 1e-4)
    assert.is_true(math.abs(sac.log_alpha.grad[1] + 0.7 * (mean_lp - A)) < 1e-4)
  end)

  it("a full update moves the targets by polyak 0.995, refreshes alpha and logs the alpha it used", function()
    local sac, b = setup()
    local tgt0 = sac.critic_target.layers[1].weight:clone()
    local st = sac:update(b)
    local expect = tgt0 * 0.995 + sac.critic.layers[1].weight * 0.005
    assert.is_true((sac.critic_target.layers[1].weight - expect):abs():max():item() < 1e-6)
    assert.is_true(math.abs(sac.alpha - math.exp(sac.log_alpha[1])) < 1e-7)
    assert.is_true(sac.alpha ~= 0.7)
    assert.are.equal(0.7, st.alpha)                   -- the reference logs the alpha of the step
    assert.are.equal(sac.alpha, sac:update(b).alpha)
  end)
end)
