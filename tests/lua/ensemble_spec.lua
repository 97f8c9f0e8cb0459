-- The dynamics ensemble (algorithms.md §3): its loss, soft clamp, training rule, use (sampled step,
-- mixture likelihood, penalty, reward-head and elite surgery), model rollouts, files and bad input.
local cil = require "cleanil"
local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"

local function tiny(opts)
  opts = opts or {}
  return cil.EnsembleDynamics(opts.obs or 3, opts.act or 2, {members = opts.members or 3, elites = opts.elites or 2,
    hidden = opts.hidden or {5}, pred_reward = opts.pred_reward ~= false, rng = cil.rng(opts.seed or 7)})
end
local function errmsg(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok)
  return tostring(e)
end
local function rows(t) return t:totable() end

describe("ensemble loss and soft clamp", function()
  it("a layer and its activation fused (no graph) give the bits of the two ops, at 1 and 2 threads", function()
    local prev = cil.get_num_threads()
    for _, t in ipairs({1, 2}) do
      cil.set_num_threads(t)
      -- 513 and 1100 rows: ragged 512-row blocks; 200 and 24 outputs: a 16-wide tail and a thin-ish head
      for _, shape in ipairs({{7, 1100, 14, 200}, {5, 513, 200, 24}, {3, 9, 6, 16}}) do
        local E, B, I, O = shape[1], shape[2], shape[3], shape[4]
        local x, w, b = cil.randn(cil.rng(1), E, B, I), cil.randn(cil.rng(2), E, I, O), cil.randn(cil.rng(3), E, 1, O)
        for _, act in ipairs({"silu", "relu", "tanh", "sigmoid"}) do
          local fused = cil.no_grad(function() return cil.ensemble_linear(x, w, b, act) end)
          local y = cil.ensemble_linear(x, w, b)
          local two = cil.nn.activations[act](y)
          assert.are.equal(0, (fused - two):abs():max():item(), act .. " " .. table.concat(shape, "x"))
        end
      end
    end
    -- with a graph it is the two differentiable ops
    local w = cil.param(cil.randn(cil.rng(4), 2, 3, 16))
    cil.ensemble_linear(cil.randn(cil.rng(5), 2, 4, 3), w, nil, "silu"):sum():backward()
    assert.is_true(w.grad:abs():sum():item() > 0)
    assert.has_error(function() cil.ensemble_linear(cil.randn(2, 4, 3), w, nil, "gelu") end)
    cil.set_num_threads(prev)
  end)
  it("L_SL equals a hand computation in double precision", function()
    local dyn = tiny()
    local g = cil.rng(3)
    local x, y = cil.randn(g, 3, 4, 5), cil.randn(g, 3, 4, 4)
    local got = dyn:loss(x, y):item()
    -- by hand: forward each member's rows through its layers in Lua numbers
    local W1, b1 = rows(dyn.net.layers[1].weight), rows(dyn.net.layers[1].bias)
    local W2, b2 = rows(dyn.net.layers[2].weight), rows(dyn.net.layers[2].bias)
    local minlv, maxlv = rows(dyn.min_lv), rows(dyn.max_lv)
    local m, s = rows(dyn.scaler_mean), rows(dyn.scaler_std)
    local X, Y = rows(x), rows(y)
    local function softplus(v) return v > 20 and v or math.log(1 + math.exp(v)) end
    local function silu(v) return v / (1 + math.exp(-v)) end
    local se, slv, cnt = 0, 0, 0
    for e = 1, 3 do
      for b = 1, 4 do
        local h = {}
        for j = 1, 5 do
          local a = b1[e][1][j]
          for i = 1, 5 do a = a + (X[e][b][i] - m[i]) / s[i] * W1[e][i][j] end
          h[j] = silu(a)
        end
        for d = 1, 4 do
          local mu, l = b2[e][1][d], b2[e][1][d + 4]
          for j = 1, 5 do mu = mu + h[j] * W2[e][j][d]; l = l + h[j] * W2[e][j][d + 4] end
          l = maxlv[d] - softplus(maxlv[d] - l)
          local lv = minlv[d] + softplus(l - minlv[d])
          se = se + (mu - Y[e][b][d]) ^ 2 * math.exp(-lv)
          slv = slv + lv
          cnt = cnt + 1
        end
      end
    end
    local want = se / cnt + slv / cnt
    for d = 1, 4 do want = want + 0.001 * (maxlv[d] - minlv[d]) end
    local decays = {2.5e-5, 5e-5}
    for k, W in ipairs({W1, W2}) do
      local sq = 0
      for _, a in ipairs(W) do for _, r in ipairs(a) do for _, v in ipairs(r) do sq = sq + v * v end end end
      want = want + decays[k] * 0.5 * sq
    end
    assert.is_true(math.abs(got - want) < 1e-5 * math.max(1, math.abs(want)), got .. " vs " .. want)
  end)

  it("the fused soft clamp equals its formula, in value and gradient, over a wide range", function()
    local D = 13                                          -- not a divisor of 16: the lane pattern wraps
    local lo = cil.param(cil.tensor{-6, -5, -4, -3, -2, -7, -6.4, -1, -3, -4, -5, -6, -2})
    local hi = cil.param(cil.tensor{0.5, 1, 0, 2, 1.5, 0.9, 0.94, 3, 1, 0, 2, 1, 0.5})
    local l = cil.param((cil.randn(cil.rng(1), 3, 101, D) * 10):persist())  -- 3939 elements: a ragged end
    local function formula(l) local l1 = hi - (hi - l):softplus(); return lo + (l1 - lo):softplus() end
    local a, b = cil.soft_clamp(l, lo, hi), formula(l)
    assert.is_true((a - b):abs():max():item() < 4e-6)
    local ga, gb = cil.grad(a:square():sum(), {l, lo, hi}), cil.grad(b:square():sum(), {l, lo, hi})
    for i = 1, 3 do
      assert.is_true(((ga[i] - gb[i]):abs() / (gb[i]:abs() + 1)):max():item() < 1e-4, "gradient " .. i)
    end
    -- extremes and NaN: bounded, NaN stays NaN
    local x = cil.tensor{{-1e30, -100, -20, -1, 0, 1, 20, 100, 1e30, 0 / 0, 1 / 0, -1 / 0, 3}}
    local y = cil.soft_clamp(x, lo, hi):totable()[1]
    for k = 1, 13 do
      if k == 10 then assert.is_true(y[k] ~= y[k]) else
        local excess = math.log(1 + math.exp(-(hi[k] - lo[k])))   -- softplus(hi - lo) - (hi - lo)
        assert.is_true(y[k] >= lo[k] - 1e-6 and y[k] <= hi[k] + excess + 1e-6, k .. ": " .. y[k])
      end
    end
    -- the same bits at 1 and 2 threads (no scalar tail whose position depends on the split)
    local big = (cil.randn(cil.rng(2), 7, 5000, D) * 5):persist()
    cil.set_num_threads(1)
    local one = cil.soft_clamp(big, lo, hi):persist()
    cil.set_num_threads(2)
    local two = cil.soft_clamp(big, lo, hi):persist()
    cil.set_num_threads(1)
    assert.are.equal(0, (one - two):abs():max():item())
    assert.matches("must be %[13%]", errmsg(cil.soft_clamp, l, cil.zeros(4), hi))
  end)

  it("the soft-clamped log-variance stays within its learned bounds", function()
    local dyn = tiny()
    dyn.min_lv:copy_(cil.tensor{-6, -5, -4, -3})
    dyn.max_lv:copy_(cil.tensor{0.5, 1, 0, 2})
    -- drive the raw output far in both directions through the last bias
    local last = dyn.net.layers[#dyn.net.layers]
    for _, big in ipairs({-1e4, -30, 0, 30, 1e4}) do
      cil.no_grad(function() last.bias:narrow(3, 5, 4):fill_(big) end)
      local _, lv = dyn:forward(cil.randn(cil.rng(1), 6, 5))
      local lo, hi = rows(dyn.min_lv), rows(dyn.max_lv)
      for _, member in ipairs(rows(lv)) do
        for _, r in ipairs(member) do
          for d, v in ipairs(r) do
            -- softplus(max - min) exceeds max - min by log1p(exp(-(max - min))) at most
            assert.is_true(v >= lo[d] - 1e-5 and v <= hi[d] + math.log(1 + math.exp(-(hi[d] - lo[d]))) + 1e-5,
              ("lv %g outside [%g, %g] at raw %g"):format(v, lo[d], hi[d], big))
          end
        end
      end
    end
  end)
end)

describe("ensemble training rule", function()
  -- y = x B exactly (a linear map the members can learn); 2000 rows
  local function linear_data(seed)
    local g = cil.rng(seed)
    local x = cil.randn(g, 2000, 5):persist()
    local B = cil.randn(g, 5, 4) * 0.3
    return x, x:matmul(B):persist()
  end
  it("stops after more than max_stale epochs without improvement, restores each member's best, picks elites", function()
    local x, y = linear_data(1)
    local dyn = tiny({members = 4, elites = 2, hidden = {16}})
    local tr = cil.DynamicsTrainer(dyn, {batch_size = 64, max_stale = 2, improve = 0.2, lr = 3e-3})
    local rng = cil.rng(5)
    local s = tr:format(x, y, rng)
    assert.are.equal(400, s.eval_x:size(1))            -- min(floor(0.2 N), 1000)
    local log, best = {}, {1e6, 1e6, 1e6, 1e6}
    local res = tr:fit(s, rng, {max_epochs = 200, on_epoch = function(i)
      log[#log + 1] = i
      local improved = 0
      for e = 1, 4 do
        if (best[e] - i.mae[e]) / (best[e] + 1e-6) > 0.2 then best[e] = i.mae[e]; improved = improved + 1 end
      end
      assert.are.equal(improved, i.improved)
    end})
    -- the rule: stale counts epochs without any improvement; the fit ends when it exceeds 2
    assert.are.equal(3, log[#log].stale)
    assert.is_true(#log < 200)
    for k = 0, 2 do assert.are.equal(0, log[#log - k].improved) end
    assert.is_true(log[#log - 3].improved > 0)
    assert.are.equal(#log, res.epochs)
    -- restored parameters reproduce each member's best MAE exactly
    local mae = tr:evaluate(s.eval_x, s.eval_y)
    for e = 1, 4 do assert.are.equal(best[e], mae[e]) end
    -- elites: the two lowest MAEs of the last epoch
    local last = log[#log].mae
    local order = {1, 2, 3, 4}
    table.sort(order, function(a, b) return last[a] < last[b] end)
    assert.are.same({order[1], order[2]}, res.elites)
    -- and the model learned the map: far below predicting zero
    local zero = s.eval_y:abs():mean():item()
    assert.is_true(mae[res.elites[1]] < 0.25 * zero, mae[res.elites[1]] .. " vs " .. zero)
  end)

  it("a rerun with the same seed gives the same parameters, at 1 and at 2 threads", function()
    local x, y = linear_data(2)
    local function train(threads)
      cil.set_num_threads(threads)
      local dyn = tiny({members = 3, hidden = {32, 32}, seed = 11})
      local tr = cil.DynamicsTrainer(dyn, {batch_size = 64})
      local rng = cil.rng(9)
      tr:fit(tr:format(x, y, rng), rng, {max_epochs = 3})
      cil.set_num_threads(1)
      local out = {}
      for i, p in ipairs(dyn:parameters()) do out[i] = p:persist() end
      return out
    end
    for _, th in ipairs({1, 2}) do
      local a, b = train(th), train(th)
      for i = 1, #a do assert.are.equal(0, (a[i] - b[i]):abs():max():item()) end
    end
  end)
end)

describe("using the model", function()
  it("the mixture log-likelihood equals a direct double-precision computation", function()
    local dyn = tiny({members = 3})
    dyn:set_elites({1, 3})
    local g = cil.rng(4)
    local o, a, y = cil.randn(g, 6, 3), cil.randn(g, 6, 2), cil.randn(g, 6, 4)
    local got = rows(dyn:log_prob(o, a, y))
    local mu, lv = dyn:forward(cil.cat({o, a}, 2))
    local MU, LV, Y = rows(mu), rows(lv), rows(y)
    local p = {0.5, 0, 0.5}
    for b = 1, 6 do
      local terms = {}
      for e = 1, 3 do
        local lp = 0
        for d = 1, 4 do
          lp = lp - 0.5 * (Y[b][d] - MU[e][b][d]) ^ 2 / math.exp(LV[e][b][d]) - 0.5 * LV[e][b][d] - 0.5 * math.log(2 * math.pi)
        end
        terms[e] = lp + math.log(p[e] + 1e-6) - (p[e] == 0 and 1e6 or 0)
      end
      local mx = math.max(table.unpack(terms))
      local s = 0
      for e = 1, 3 do s = s + math.exp(terms[e] - mx) end
      local want = mx + math.log(s)
      assert.is_true(math.abs(got[b] - want) < 1e-4 * math.max(1, math.abs(want)), got[b] .. " vs " .. want)
    end
  end)

  it("the penalty is mean_dims sqrt(mean_e sigma^2 + unbiased var_e mu)", function()
    local g = cil.rng(8)
    local mu, lv = cil.randn(g, 4, 5, 3), cil.randn(g, 4, 5, 3)
    local got = rows(cil.EnsembleDynamics(1, 1).penalty(mu, lv))
    local MU, LV = rows(mu), rows(lv)
    for b = 1, 5 do
      local want = 0
      for d = 1, 3 do
        local m, v, s2 = 0, 0, 0
        for e = 1, 4 do m = m + MU[e][b][d] / 4; s2 = s2 + math.exp(LV[e][b][d]) / 4 end
        for e = 1, 4 do v = v + (MU[e][b][d] - m) ^ 2 / 3 end
        want = want + math.sqrt(s2 + v) / 3
      end
      assert.is_true(math.abs(got[b] - want) < 1e-5 * math.max(1, want), got[b] .. " vs " .. want)
    end
  end)

  it("member picks follow the elite distribution (chi-square) and never pick a non-elite", function()
    local dyn = tiny({members = 7, elites = 3})
    dyn:set_elites({2, 5, 7})
    local n = 30000
    local _, _, _, member = dyn:step(cil.randn(cil.rng(1), n, 3), cil.randn(cil.rng(2), n, 2), cil.rng(3))
    local count = {0, 0, 0, 0, 0, 0, 0}
    for _, m in ipairs(rows(member)) do count[m] = count[m] + 1 end
    for _, e in ipairs({1, 3, 4, 6}) do assert.are.equal(0, count[e]) end
    local chi2 = 0
    for _, e in ipairs({2, 5, 7}) do chi2 = chi2 + (count[e] - n / 3) ^ 2 / (n / 3) end
    assert.is_true(chi2 < 13.82, "chi-square " .. chi2 .. " (df 2, p = 0.001 bound 13.82)")
    -- uniform over all 7 before any elites are chosen
    dyn:set_elites(nil)
    _, _, _, member = dyn:step(cil.randn(cil.rng(1), n, 3), cil.randn(cil.rng(2), n, 2), cil.rng(4))
    count = {0, 0, 0, 0, 0, 0, 0}
    for _, m in ipairs(rows(member)) do count[m] = count[m] + 1 end
    chi2 = 0
    for e = 1, 7 do chi2 = chi2 + (count[e] - n / 7) ^ 2 / (n / 7) end
    assert.is_true(chi2 < 22.46, "chi-square " .. chi2 .. " (df 6, p = 0.001 bound 22.46)")
  end)

  it("the sampled step is ô + the picked member's sample, its reward the last column", function()
    local dyn = tiny({members = 2})
    dyn:set_elites({2})
    local o, a = cil.randn(cil.rng(1), 5, 3), cil.randn(cil.rng(2), 5, 2)
    local o2, r, y, member, mu, lv = dyn:step(o, a, cil.rng(6))
    -- the same draws by hand: all members' samples, then one uniform per row
    local g = cil.rng(6)
    local eps = cil.randn(g, 2, 5, 4)
    local want = (mu + (lv * 0.5):exp() * eps)[2]
    assert.is_true((y - want):abs():max():item() < 1e-6)
    assert.is_true((o2 - (o + want:narrow(2, 1, 3))):abs():max():item() < 1e-6)
    assert.is_true((r - want:narrow(2, 4, 1):reshape(5)):abs():max():item() < 1e-6)
    for _, m in ipairs(rows(member)) do assert.are.equal(2, m) end
  end)

  it("removing the reward head keeps the observation outputs; keeping the elites keeps their outputs", function()
    local dyn = tiny({members = 4})
    dyn:set_elites({4, 2})
    local x = cil.randn(cil.rng(3), 6, 5)
    local mu, lv = dyn:forward(x)
    dyn:remove_reward_head()
    assert.are.equal(3, dyn.out_dim)
    local mu2, lv2 = dyn:forward(x)
    assert.are.same({4, 6, 3}, mu2:shape())
    assert.is_true((mu2 - mu:narrow(3, 1, 3)):abs():max():item() == 0)
    assert.is_true((lv2 - lv:narrow(3, 1, 3)):abs():max():item() == 0)
    dyn:keep_elites()
    assert.are.equal(2, dyn.members)
    local mu3 = dyn:forward(x)
    assert.is_true((mu3[1] - mu2[2]):abs():max():item() == 0)   -- members 2 and 4, in member order
    assert.is_true((mu3[2] - mu2[4]):abs():max():item() == 0)
    assert.are.same({0.5, 0.5}, dyn.probs)
  end)

  it("a saved and reloaded model predicts identically and refuses another task", function()
    local dyn = cil.EnsembleDynamics(11, 3, {members = 3, elites = 2, hidden = {8}, rng = cil.rng(1)})
    dyn:fit_scaler(cil.randn(cil.rng(2), 50, 14))
    dyn:set_elites({3, 1})
    local path = os.tmpname()
    dyn:save(path, {env = "hopper"})
    local back = cil.load_dynamics(path, "hopper")
    local x = cil.randn(cil.rng(5), 7, 14)
    local m1, l1 = dyn:forward(x)
    local m2, l2 = back:forward(x)
    assert.are.equal(0, (m1 - m2):abs():max():item())
    assert.are.equal(0, (l1 - l2):abs():max():item())
    assert.are.same({3, 1}, back.elites)
    assert.matches("not of walker2d", errmsg(cil.load_dynamics, path, "walker2d"))
    local f = io.open(path, "w"); f:write("not hdf5"); f:close()
    assert.matches("load_dynamics", errmsg(cil.load_dynamics, path, "hopper"))
    os.remove(path)
  end)

  it("bad input is a clear error", function()
    local dyn = tiny()
    assert.matches("elite", errmsg(dyn.set_elites, dyn, {0}))
    assert.matches("actions %[4, 5%], expected %[4, 3%] and %[4, 2%]", errmsg(dyn.step, dyn, cil.randn(4, 3), cil.randn(4, 5), cil.rng(1)))
    local tr = cil.DynamicsTrainer(dyn, {batch_size = 256})
    assert.matches("fewer than one batch", errmsg(tr.format, tr, cil.randn(100, 5), cil.randn(100, 4), cil.rng(1)))
    assert.matches("target rows", errmsg(tr.format, tr, cil.randn(100, 5), cil.randn(90, 4), cil.rng(1)))
  end)
end)

describe("model rollouts", function()
  -- a hand-made model: each step adds `delta` to the observation (members and noise aside), so the
  -- test decides where every row goes; the real ensemble's step is tested above
  local function scripted(O, deltas)
    local h = 0
    return {obs_dim = O, step = function(_, o)
      h = h + 1
      local d = cil.tensor(deltas[h])
      return o + d, cil.full({o:size(1)}, h), nil, nil, nil, nil
    end}
  end
  local actor = setmetatable({}, {__call = function(_, o)
    return {sample = function() return cil.zeros(o:size(1), 3) end, mode = function() return cil.zeros(o:size(1), 3) end}
  end})
  local function start()
    -- hopper rows (raw observations): row 1 healthy, row 2 healthy, row 3 healthy but near the |o| < 30 edge
    local s = cil.zeros(3, 11)
    s[1][1], s[2][1], s[3][1] = 1.25, 1.25, 1.25
    s[3][5] = 25
    return s
  end
  local deltas = {
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {-0.7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0.7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0}},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
  }
  local function dones(buf)
    local r = buf:rows(1, buf:size())
    local out = {}
    for i, v in ipairs(r.done:reshape(buf:size()):totable()) do out[i] = v end
    return out, r
  end
  it("'alive' drops terminated rows (mbpo, mopo)", function()
    local buf = cil.ReplayBuffer(100, 11, 3)
    local d = deltas
    -- step 2 and 3 only see the surviving rows: keep the deltas' first rows
    local dyn = scripted(11, {d[1], {d[2][1], d[2][3]}, {d[3][1]}})
    local res = cil.rollout.run(dyn, actor, start(), {horizon = 3, rng = cil.rng(1), buffer = buf, env = "hopper", continue = "alive"})
    -- step 1: 3 rows, row 2 falls (height 0.55); step 2: rows 1 and 3, row 3 exceeds |o| < 30 (term guard); step 3: row 1
    local done = dones(buf)
    assert.are.same({0, 1, 0, 0, 1, 0}, done)
    assert.are.equal(6, res.rows)
    assert.are.equal(3, res.steps)
  end)
  it("'bounded' continues terminated rows, sticky keeps them terminated, |ô'| >= 30 stops a row", function()
    local buf = cil.ReplayBuffer(100, 11, 3)
    local d = deltas
    local dyn = scripted(11, {d[1], {d[2][1], d[2][2], d[2][3]}, {d[3][1], d[3][2]}})
    cil.rollout.run(dyn, actor, start(), {horizon = 3, rng = cil.rng(1), buffer = buf, env = "hopper",
      continue = "bounded", sticky = true})
    local done, r = dones(buf)
    -- step 1: row 2 falls; step 2: row 2 stands again but stays terminated (sticky), row 3 leaves the box
    -- (|o| = 31) and is stored terminated, then dropped; step 3: rows 1, 2
    assert.are.same({0, 1, 0, 0, 1, 1, 0, 1}, done)
    local rew = r.rew:reshape(8):totable()
    assert.are.same({1, 1, 1, 2, 2, 2, 3, 3}, rew)    -- stored reward = the model's r^
    -- not sticky: row 2 is alive again at step 2
    buf:clear()
    dyn = scripted(11, {d[1], {d[2][1], d[2][2], d[2][3]}, {d[3][1], d[3][2]}})
    cil.rollout.run(dyn, actor, start(), {horizon = 3, rng = cil.rng(1), buffer = buf, env = "hopper", continue = "bounded"})
    assert.are.same({0, 1, 0, 0, 0, 1, 0, 0}, (dones(buf)))
  end)
  it("done0 starts rows terminated; the stored reward can be replaced", function()
    local buf = cil.ReplayBuffer(100, 11, 3)
    local dyn = scripted(11, {deltas[1]})
    cil.rollout.run(dyn, actor, start(), {horizon = 1, rng = cil.rng(1), buffer = buf, env = "hopper",
      sticky = true, done0 = cil.tensor{1, 0, 0}, reward = function(s) return s.reward * 0 - 7 end})
    local done, r = dones(buf)
    assert.are.same({1, 1, 0}, done)
    assert.are.same({-7, -7, -7}, r.rew:reshape(3):totable())
  end)
  it("a real ensemble and actor: reruns are bit-identical at 1 and at 2 threads", function()
    local function once(threads)
      cil.set_num_threads(threads)
      local dyn = cil.EnsembleDynamics(11, 3, {members = 7, hidden = {64, 64}, rng = cil.rng(1)})
      dyn:set_elites({1, 2, 3, 4, 5})
      local pi = cil.TanhNormalActor(11, 3, {64, 64}, {rng = cil.rng(2)})
      local buf = cil.ReplayBuffer(20000, 11, 3)
      local s = cil.randn(cil.rng(3), 500, 11) * 0.1
      cil.rollout.run(dyn, pi, s, {horizon = 10, rng = cil.rng(4), buffer = buf, env = "hopper",
        mean = cil.zeros(11), std = cil.ones(11), penalty = true, reward = function(st) return st.reward - st.pen end})
      cil.set_num_threads(1)
      local r = buf:rows(1, buf:size())
      for k, v in pairs(r) do r[k] = v:persist() end
      return r, buf:size()
    end
    for _, th in ipairs({1, 2}) do
      local a, na = once(th)
      local b, nb = once(th)
      assert.are.equal(na, nb)
      assert.is_true(na > 500)
      for _, k in ipairs({"obs", "act", "rew", "next_obs", "done"}) do
        assert.are.equal(0, (a[k] - b[k]):abs():max():item())
      end
    end
  end)
  it("bad options are clear errors", function()
    local buf = cil.ReplayBuffer(10, 11, 3)
    local dyn = scripted(11, {})
    assert.matches("horizon", errmsg(cil.rollout.run, dyn, actor, start(), {horizon = 0, rng = cil.rng(1), buffer = buf, env = "hopper"}))
    assert.matches("expected %[N, 11%]", errmsg(cil.rollout.run, dyn, actor, cil.zeros(3, 5), {horizon = 1, rng = cil.rng(1), buffer = buf, env = "hopper"}))
    assert.matches("continue", errmsg(cil.rollout.run, dyn, actor, start(), {horizon = 1, rng = cil.rng(1), buffer = buf, env = "hopper", continue = "x"}))
  end)
end)

describe("algorithms/ensemble.lua", function()
  local tmp = os.tmpname()
  os.remove(tmp)
  os.execute("mkdir -p " .. tmp)
  teardown(function() os.execute("rm -rf " .. tmp) end)
  local function run(cmd)
    local f = io.popen(cmd .. " 2>&1")
    local out = f:read("a")
    return f:close() == true, out
  end
  it("trains, logs, saves a loadable model and resumes to the same result", function()
    local base = ("%s algorithms/ensemble.lua --env=hopper --preset=quick --max_rows=3000 --hidden=32,32"):format(BIN)
    local ok, out = run(base .. " --max_epochs=3 --out=" .. tmp .. "/a")
    assert.is_true(ok, out)
    assert.matches("observation MAE", out)
    ok, out = run(base .. " --max_epochs=5 --out=" .. tmp .. "/a --resume")
    assert.is_true(ok, out)
    assert.matches("resumed at epoch 3", out)
    ok, out = run(base .. " --max_epochs=5 --out=" .. tmp .. "/b")
    assert.is_true(ok, out)
    local a, b = cil.load_dynamics(tmp .. "/a/ensemble.h5", "hopper"), cil.load_dynamics(tmp .. "/b/ensemble.h5", "hopper")
    for i, p in ipairs(a:parameters()) do assert.are.equal(0, (p - b:parameters()[i]):abs():max():item()) end
    local rows = 0
    for _ in io.lines(tmp .. "/a/log.csv") do rows = rows + 1 end
    assert.are.equal(6, rows)
    local s = io.open(tmp .. "/b/summary.json"):read("a")
    assert.matches('"no_change_obs_mae"', s)
  end)
  it("takes transition_data_size rows without replacement when the file holds more (medium-expert: half)", function()
    local base = ("%s algorithms/ensemble.lua --env=hopper --preset=quick --max_rows=3000 --hidden=8 --max_epochs=1"):format(BIN)
    local ok, out = run(base .. " --transition_data_size=1000 --out=" .. tmp .. "/s")
    assert.is_true(ok, out)
    assert.matches("%+ 1000 from", out)
    ok, out = run(base .. " --out=" .. tmp .. "/t")                 -- 1e6 > 3000: every row
    assert.is_true(ok, out)
    assert.matches("%+ 3000 from", out)
    ok, out = run(base .. " --transition_data_size=0 --out=" .. tmp .. "/u")
    assert.is_false(ok, out)
    assert.matches("transition_data_size must be a positive integer", out)
  end)
  it("refuses a transition file of another task and bad values", function()
    local ok, out = run(("%s algorithms/ensemble.lua --env=walker2d --transition_path=data/halfcheetah/medium_replay.h5 --out=%s/c"):format(BIN, tmp))
    assert.is_false(ok)
    assert.matches("do not follow walker2d's dynamics", out)
    ok, out = run(("%s algorithms/ensemble.lua --env=hopper --lr=-1 --out=%s/d"):format(BIN, tmp))
    assert.is_false(ok)
    assert.matches("lr must be a finite positive number", out)
    ok, out = run(("%s algorithms/ensemble.lua --env=hopper --transition_path=tests/fixtures/bad_nan.hdf5 --out=%s/e"):format(BIN, tmp))
    assert.is_false(ok)
    assert.matches("non%-finite value", out)
  end)
end)
