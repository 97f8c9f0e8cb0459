-- Layers, optimizers, distributions, RNG reproducibility (issue 4).
local cil = require "cleanil"

local function maxdiff(a, b) return (a - b):abs():max():item() end

describe("initialization", function()
  it("Linear follows PyTorch's default: W, b ~ U(+-1/sqrt(fan_in))", function()
    local l = cil.nn.Linear(256, 512, {rng = cil.rng(0)})
    local bound = 1 / 16
    local w = l.weight
    assert.is_true(w:abs():max():item() <= bound)
    local var = w:square():mean():item()
    assert.is_true(math.abs(var / (bound ^ 2 / 3) - 1) < 0.05, "var " .. var)
    assert.is_true(math.abs(w:mean():item()) < 0.002)
    assert.is_true(l.bias:abs():max():item() <= bound)
    assert.are.same({512, 256}, w:shape())
  end)
  it("EnsembleLinear: truncated normal std 1/(2 sqrt(in)), zero bias", function()
    local l = cil.nn.EnsembleLinear(7, 100, 200, {rng = cil.rng(1)})
    local sd = math.sqrt(l.weight:square():mean():item())
    assert.is_true(math.abs(sd / 0.05 - 1) < 0.03, "std " .. sd)
    assert.are.equal(0, l.bias:abs():max():item())
    assert.are.same({7, 100, 200}, l.weight:shape())
  end)
end)

describe("EnsembleLinear", function()
  it("equals E separate Linear layers", function()
    local E, B = 3, 5
    local ens = cil.nn.EnsembleLinear(E, 4, 6)
    local xs = cil.randn(E, B, 4)
    local y = ens(xs)
    for e = 1, E do
      local lin = cil.nn.Linear(4, 6)
      lin.weight:copy_(ens.weight[e]:t())
      lin.bias:copy_(ens.bias[e]:reshape(6))
      assert.is_true(maxdiff(lin(xs[e]), y[e]) < 1e-5)
    end
    -- a shared input [B, in] goes to every member
    local x = cil.randn(B, 4)
    local ys = ens(x)
    assert.are.same({E, B, 6}, ys:shape())
    assert.is_true(maxdiff(ys[2], ens(cil.stack({x, x, x}, 1))[2]) < 1e-5)
  end)
  it("EnsembleMLP members train independently", function()
    local m = cil.nn.EnsembleMLP(2, 3, {8}, 1)
    local x = cil.randn(2, 4, 3)
    local y = m(x)
    y[1]:sum():backward()
    -- member 2 gets no gradient from member 1's output
    assert.are.equal(0, m.layers[1].weight.grad[2]:abs():sum():item())
    assert.is_true(m.layers[1].weight.grad[1]:abs():sum():item() > 0)
  end)
end)

describe("Adam", function()
  -- reference in double precision, PyTorch's formula
  local function ref_adam(p, grads, lr, b1, b2, eps, wd, decoupled)
    local m, v = {}, {}
    for i = 1, #p do m[i], v[i] = 0, 0 end
    for t, g in ipairs(grads) do
      for i = 1, #p do
        local gi = g[i]
        if decoupled then p[i] = p[i] * (1 - lr * wd) elseif wd > 0 then gi = gi + wd * p[i] end
        m[i] = b1 * m[i] + (1 - b1) * gi
        v[i] = b2 * v[i] + (1 - b2) * gi * gi
        local bc1, bc2 = 1 - b1 ^ t, 1 - b2 ^ t
        p[i] = p[i] - lr / bc1 * m[i] / (math.sqrt(v[i]) / math.sqrt(bc2) + eps)
      end
    end
    return p
  end
  for _, case in ipairs({{wd = 0, dec = false}, {wd = 0.1, dec = false}, {wd = 0.1, dec = true}}) do
    it(string.format("matches the formula for 5 steps (weight_decay %g, decoupled %s)", case.wd, tostring(case.dec)), function()
      local init = {0.5, -1.5, 2.0}
      local grads = {{0.1, -0.2, 0.3}, {1, 2, -3}, {-0.5, 0.5, 0}, {1e-3, -1e-3, 10}, {0.2, 0.2, 0.2}}
      local p = cil.param(cil.tensor(init))
      local opt = cil.optim.Adam({p}, {lr = 0.01, weight_decay = case.wd, decoupled = case.dec})
      for _, g in ipairs(grads) do
        p.grad = nil
        ;(p * cil.tensor(g)):sum():backward()
        opt:step()
      end
      local want = ref_adam({table.unpack(init)}, grads, 0.01, 0.9, 0.999, 1e-8, case.wd, case.dec)
      for i = 1, 3 do assert.is_true(math.abs(p[i] - want[i]) < 2e-6, p[i] .. " vs " .. want[i]) end
    end)
  end
  it("rejects unknown options, non-finite gradients; learning rate can change", function()
    local p = cil.param(cil.ones(2))
    assert.has_error(function() cil.optim.Adam({p}, {learning_rate = 1}) end)
    local opt = cil.optim.Adam({p}, {lr = 0.1})
    assert.are.equal(0.1, math.floor(opt:lr() * 1e6 + 0.5) / 1e6)
    opt:lr(0.5)
    assert.is_true(math.abs(opt:lr() - 0.5) < 1e-7)
    ;(p * math.huge):sum():backward()
    local ok, err = pcall(function() opt:step() end)
    assert.is_false(ok)
    assert.matches("not finite", err)
  end)
  it("state round-trips through state()/load_state()", function()
    local p = cil.param(cil.ones(3))
    local opt = cil.optim.Adam({p}, {lr = 0.1})
    ;(p * p):sum():backward(); opt:step()
    local st = opt:state()
    local q = cil.param(cil.ones(3))
    local opt2 = cil.optim.Adam({q}, {lr = 0.1})
    opt2:load_state(st)
    q:copy_(p)
    p.grad = nil; q.grad = nil
    ;(p * p):sum():backward(); opt:step()
    ;(q * q):sum():backward(); opt2:step()
    assert.are.equal(0, maxdiff(p, q))
  end)
end)

describe("parameter utilities", function()
  it("clip_grad_norm returns the pre-clip norm and scales to max_norm", function()
    local a, b = cil.param(cil.tensor{3, 0}), cil.param(cil.tensor{4})
    ;(a * a * 0.5):sum():backward(); (b * b * 0.5):sum():backward() -- grads = values
    local n = cil.optim.clip_grad_norm({a, b}, 1.0)
    assert.is_true(math.abs(n - 5) < 1e-6)
    local n2 = cil.optim.clip_grad_norm({a, b}, 100)
    assert.is_true(math.abs(n2 - 1) < 1e-5)
  end)
  it("polyak: target <- tau*target + (1-tau)*source", function()
    local src = cil.nn.MLP(2, {3}, 1)
    local tgt = src:clone()
    assert.are.equal(0, maxdiff(tgt.layers[1].weight, src.layers[1].weight))
    local w0 = tgt.layers[1].weight:clone()
    src.layers[1].weight:fill_(1)
    tgt:polyak_from(src, 0.995)
    local expect = w0 * 0.995 + 0.005
    assert.is_true(maxdiff(tgt.layers[1].weight, expect) < 1e-6)
  end)
  it("requires_grad_(false) skips a network's weight gradients", function()
    local q = cil.nn.MLP(2, {4}, 1)
    local x = cil.param(cil.randn(3, 2))
    q:requires_grad_(false)
    q(x):sum():backward()
    assert.is_nil(q.layers[1].weight.grad)
    assert.is_not_nil(x.grad)
    q:requires_grad_(true)
  end)
  it("state_dict / load_state_dict copy values and check shapes", function()
    local a, b = cil.nn.MLP(3, {5}, 2), cil.nn.MLP(3, {5}, 2)
    b:load_state_dict(a:state_dict())
    local x = cil.randn(4, 3)
    assert.are.equal(0, maxdiff(a(x), b(x)))
    local c = cil.nn.MLP(3, {6}, 2)
    assert.has_error(function() c:load_state_dict(a:state_dict()) end)
  end)
end)

describe("TanhNormal", function()
  local dist = cil.dist
  it("log_prob equals the closed form log N(atanh a) - log(1 - a^2)", function()
    local mu, ls = cil.tensor{{0.3, -1.2}}, cil.tensor{{-0.5, 0.2}}
    local d = dist.TanhNormal(mu, ls)
    local a = cil.tensor{{0.6, -0.95}}
    local got = d:log_prob(a):item()
    local want = 0
    for j = 1, 2 do
      local m, s, aj = mu[1][j], math.exp(ls[1][j]), a[1][j]
      local x = 0.5 * math.log((1 + aj) / (1 - aj))
      want = want - 0.5 * ((x - m) / s) ^ 2 - math.log(s) - 0.5 * math.log(2 * math.pi) - math.log(1 - aj * aj)
    end
    assert.is_true(math.abs(got - want) < 1e-4, got .. " vs " .. want)
  end)
  it("is a density on (-1, 1): integrates to 1 on a fine grid", function()
    local d = dist.TanhNormal(cil.tensor{{0.4}}, cil.tensor{{-0.3}})
    local n, total = 20000, 0
    local grid = cil.arange(n):reshape(n, 1) * (2 / n) + (1 / n - 1)
    local lp = dist.TanhNormal(d.mu:expand(n, 1), cil.full({n, 1}, -0.3)):log_prob(grid)
    total = lp:exp():sum():item() * (2 / n)
    assert.is_true(math.abs(total - 1) < 2e-3, "integral " .. total)
  end)
  it("samples match the density: mean of tanh(u) by sampling vs by quadrature", function()
    local g = cil.rng(5)
    local n = 200000
    local d = dist.TanhNormal(cil.full({n, 1}, 0.4), cil.full({n, 1}, -0.3))
    local mean_s = d:sample(g):mean():item()
    local m = 2000
    local grid = cil.arange(m):reshape(m, 1) * (2 / m) + (1 / m - 1)
    local lp = dist.TanhNormal(cil.full({m, 1}, 0.4), cil.full({m, 1}, -0.3)):log_prob(grid)
    local mean_q = (lp:exp() * grid:reshape(m)):sum():item() * (2 / m)
    assert.is_true(math.abs(mean_s - mean_q) < 0.01, mean_s .. " vs " .. mean_q)
  end)
  it("actor: log-std soft clamp, mu clip, deterministic action tanh(mu)", function()
    local actor = cil.TanhNormalActor(4, 2, {16})
    local last = actor.net.layers[2]
    last.weight:fill_(0); last.bias:copy_(cil.tensor{100, -100, 100, -100})
    local d = actor(cil.randn(3, 4))
    assert.is_true(math.abs(d.mu[1][1] - actor.MU_BOUND) < 1e-5)
    assert.is_true(math.abs(d.base.log_std[1][1] - math.log(3)) < 1e-5)
    assert.is_true(math.abs(d.base.log_std[1][2] - math.log(1e-3)) < 1e-4)
    assert.is_true(math.abs(actor:act_deterministic(cil.randn(1, 4))[1][1] - math.tanh(actor.MU_BOUND)) < 1e-6)
    assert.is_true(math.abs(actor.MU_BOUND - 7.2477) < 1e-3)
  end)
end)

describe("training", function()
  local function fit(seed)
    cil.manual_seed(seed)
    local x = cil.uniform(-1, 1, 128, 1):persist()
    local y = (x * 2):tanh():persist()
    local net = cil.nn.MLP(1, {32, 32}, 1)
    local opt = cil.optim.Adam(net:parameters(), {lr = 1e-2})
    local first, loss
    for i = 1, 300 do
      cil.reset()
      local l = (net(x) - y):square():mean()
      opt:zero_grad(); l:backward(); opt:step()
      loss = l:item()
      first = first or loss
    end
    return first, loss, net(x):sum():item()
  end
  it("a 2-layer MLP fits a toy regression", function()
    local first, last = fit(0)
    assert.is_true(last < first / 20, first .. " -> " .. last)
    assert.is_true(last < 0.01)
  end)
  it("same seed gives a bit-identical run; another seed differs", function()
    local _, l1, s1 = fit(3)
    local _, l2, s2 = fit(3)
    local _, l3, s3 = fit(4)
    assert.are.equal(l1, l2)
    assert.are.equal(s1, s2)
    assert.are_not.equal(s1, s3)
  end)
end)

describe("threads", function()
  local function run(threads)
    cil.set_num_threads(threads)
    cil.manual_seed(0)
    local sac = cil.SAC(11, 3, {}, cil.rng(0))
    local g = cil.rng(1)
    local b = {obs = cil.randn(g, 256, 11):persist(), act = cil.rand(g, 256, 3):persist(),
      rew = cil.randn(g, 256, 1):persist(), next_obs = cil.randn(g, 256, 11):persist(), done = cil.zeros(256, 1):persist()}
    for _ = 1, 3 do cil.reset(); sac:update(b) end
    local w = sac.actor.net.layers[2].weight:clone():persist()
    local big = cil.randn(cil.rng(3), 300, 300):persist()
    local e = (big:silu() * big + big):persist()
    cil.set_num_threads(1)
    return w, e
  end
  it("2 threads repeat themselves bit for bit and agree with 1 thread", function()
    local w1, e1 = run(1)
    local w2, e2 = run(2)
    local w2b, e2b = run(2)
    assert.are.equal(0, (w2 - w2b):abs():max():item())          -- same seed, same threads
    assert.are.equal(0, (e1 - e2):abs():max():item())           -- elementwise splits are exact
    assert.is_true((w1 - w2):abs():max():item() < 1e-5)          -- GEMM row splits round differently
  end)
  it("ensemble members split between threads give the 1-thread values", function()
    local function grads(threads)
      cil.set_num_threads(threads)
      cil.manual_seed(0)
      local net = cil.nn.EnsembleMLP(7, 14, {200, 200}, 24, {activation = "silu"})
      cil.reset()
      local x = cil.randn(cil.rng(5), 7, 256, 14)
      net:zero_grad()
      net(x):square():mean():backward()
      local out = {}
      for i, p in ipairs(net:parameters()) do out[i] = p.grad:clone():persist() end
      cil.set_num_threads(1)
      return out
    end
    local g1, g2 = grads(1), grads(2)
    for i = 1, #g1 do
      assert.is_true((g1[i] - g2[i]):abs():max():item() <= 1e-6 * (1 + g1[i]:abs():max():item()))
    end
  end)
  it("a pool resized right before a job runs it (no lost wake-up)", function()
    local x = cil.randn(300, 300):persist()
    for _ = 1, 200 do
      cil.set_num_threads(2)
      cil.reset()
      x:matmul(x):silu()
      cil.set_num_threads(1)
    end
  end)
end)
