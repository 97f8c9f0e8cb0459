-- Tensor API, broadcasting, autograd from Lua, and one test per class of error message.
local cil = require "cleanil"

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-5) end
local function all_close(t, expect, tol)
  local flat = t:reshape(-1)
  assert.are.equal(#expect, flat:numel())
  for i = 1, #expect do
    if not close(flat[i], expect[i], tol) then return false end
  end
  return true
end

describe("creation", function()
  it("builds from nested tables and reads back", function()
    local x = cil.tensor{{1, 2, 3}, {4, 5, 6}}
    assert.are.same({2, 3}, x:shape())
    assert.are.same({{1, 2, 3}, {4, 5, 6}}, x:totable())
    assert.are.equal(5, x[2][2])
    assert.are.equal(6, x:numel())
  end)
  it("zeros, ones, full, arange", function()
    assert.is_true(all_close(cil.zeros(2, 2), {0, 0, 0, 0}))
    assert.is_true(all_close(cil.ones{3}, {1, 1, 1}))
    assert.is_true(all_close(cil.full({2}, 7), {7, 7}))
    assert.is_true(all_close(cil.arange(4), {0, 1, 2, 3}))
    assert.is_true(all_close(cil.arange(1, 2, 0.25), {1, 1.25, 1.5, 1.75}))
    assert.are.equal(3.5, cil.tensor(3.5):item())
  end)
  it("random tensors are reproducible with a seed and have the right moments", function()
    cil.manual_seed(7)
    local a = cil.randn(1000)
    cil.manual_seed(7)
    local b = cil.randn(1000)
    assert.are.equal(0, (a - b):abs():max():item())
    assert.is_true(math.abs(a:mean():item()) < 0.15)
    assert.is_true(math.abs((a * a):mean():item() - 1) < 0.15)
    local g = cil.rng(3)
    local u = g:rand(2000)
    assert.is_true(u:min():item() >= 0 and u:max():item() < 1)
    assert.is_true(math.abs(u:mean():item() - 0.5) < 0.05)
    local p = g:randperm(10)
    local seen = {}
    for i = 1, 10 do seen[p[i]] = true end
    for i = 1, 10 do assert.is_true(seen[i]) end
  end)
  it("generator state save/restore repeats the stream", function()
    local g = cil.rng(11)
    local s = g:state()
    local a = g:randn(5):totable()
    g:set_state(s)
    assert.are.same(a, g:randn(5):totable())
  end)
end)

describe("broadcasting", function()
  it("row, column and scalar broadcasting", function()
    local x = cil.tensor{{1, 2, 3}, {4, 5, 6}}
    assert.is_true(all_close(x + cil.tensor{10, 20, 30}, {11, 22, 33, 14, 25, 36}))
    assert.is_true(all_close(x * cil.tensor{{2}, {3}}, {2, 4, 6, 12, 15, 18}))
    assert.is_true(all_close(1 - x, {0, -1, -2, -3, -4, -5}))
    assert.is_true(all_close(x / 2, {0.5, 1, 1.5, 2, 2.5, 3}))
    assert.is_true(all_close(x ^ 2, {1, 4, 9, 16, 25, 36}))
    local a = cil.ones(3, 1, 5)
    local b = cil.ones(4, 1)
    assert.are.same({3, 4, 5}, (a + b):shape())
  end)
  it("gradients of broadcast operands are summed back to their shape", function()
    local w = cil.param(cil.tensor{1, 2, 3})
    local x = cil.tensor{{1, 1, 1}, {2, 2, 2}}
    ;(x * w):sum():backward()
    assert.is_true(all_close(w.grad, {3, 3, 3}))
  end)
end)

describe("ops", function()
  it("reductions with dims, keepdim, max with indices", function()
    local x = cil.tensor{{1, 5, 3}, {4, 2, 6}}
    assert.is_true(all_close(x:sum(1), {5, 7, 9}))
    assert.are.same({2, 1}, x:sum(2, true):shape())
    assert.is_true(all_close(x:mean(), {3.5}))
    local v, i = x:max(2)
    assert.is_true(all_close(v, {5, 6}))
    assert.is_true(all_close(i, {2, 3}))
    assert.is_true(all_close(x:argmin(1), {1, 2, 1}))
    assert.is_true(close(cil.tensor{0, 0}:logsumexp():item(), math.log(2)))
    assert.is_true(close(cil.tensor{3, 4}:norm():item(), 5))
  end)
  it("shape ops: reshape, transpose, narrow, rows, cat, stack, gather, index_select", function()
    local x = cil.arange(6):reshape(2, 3)
    assert.are.same({{0, 3}, {1, 4}, {2, 5}}, x:t():totable())
    assert.are.same({{1, 2}, {4, 5}}, x:narrow(2, 2, 2):totable())
    assert.are.same({{3, 4, 5}}, x:rows(2, 2):totable())
    assert.are.same({2, 6}, cil.cat({x, x}, 2):shape())
    assert.are.same({2, 2, 3}, cil.stack({x, x}, 1):shape())
    assert.are.same({{3, 4, 5}, {0, 1, 2}}, x:index_select(1, cil.tensor{2, 1}):totable())
    assert.are.same({{2}, {3}}, x:gather(2, cil.tensor{{3}, {1}}):totable())
    assert.are.same({6}, x:reshape(-1):shape())
  end)
  it("matmul 2-D, batched and broadcast agree with a naive product", function()
    local a = cil.tensor{{1, 2}, {3, 4}}
    local b = cil.tensor{{5, 6}, {7, 8}}
    assert.are.same({{19, 22}, {43, 50}}, a:matmul(b):totable())
    local A = cil.stack({a, b}, 1)
    local r = A:matmul(b)
    assert.are.same({{19, 22}, {43, 50}}, r[1]:totable())
    assert.are.same({{67, 78}, {91, 106}}, r[2]:totable())
    assert.are.same({2, 2, 2}, a:matmul(A):shape())
  end)
  it("unary maths values", function()
    local x = cil.tensor{-1, 0, 2}
    assert.is_true(all_close(x:relu(), {0, 0, 2}))
    assert.is_true(all_close(x:leaky_relu(0.1), {-0.1, 0, 2}))
    assert.is_true(all_close(x:clamp(-0.5, 1), {-0.5, 0, 1}))
    assert.is_true(all_close(x:clamp(0), {0, 0, 2}))
    assert.is_true(all_close(x:sigmoid(), {1 / (1 + math.exp(1)), 0.5, 1 / (1 + math.exp(-2))}))
    assert.is_true(all_close(x:silu(), {-1 / (1 + math.exp(1)), 0, 2 / (1 + math.exp(-2))}))
    assert.is_true(all_close(x:softplus(), {math.log(1 + math.exp(-1)), math.log(2), math.log(1 + math.exp(2))}))
    assert.is_true(all_close(cil.tensor{0.5}:atanh(), {0.5493061}))
    assert.is_true(all_close(cil.where(x:gt(0), x, 10), {10, 10, 2}))
  end)
  it("silu and its gradient match the closed form over a long vector (vector body, ragged tail, extremes)", function()
    local xs = {-100, -88.5, -30, 30, 88.5, 100, 0}
    for i = 1, 1000 do xs[#xs + 1] = -12 + 24 * (i - 1) / 999 end -- 1007 values: not a multiple of 16
    local x = cil.param(cil.tensor(xs))
    local y = x:silu()
    y:backward(cil.ones(#xs))
    local worst_y, worst_g = 0, 0
    for i, v in ipairs(xs) do
      local s = 1 / (1 + math.exp(-v))
      local ey, eg = v * s, s * (1 + v * (1 - s))
      worst_y = math.max(worst_y, math.abs(y[i] - ey) / math.max(math.abs(ey), 1e-6))
      -- silu' crosses 0 at x = -1.278, where 1 + x (1 - s) cancels: float32 keeps ~1e-8 absolute there
      -- (the scalar kernel of CPUs without AVX-512 a little less than the fused vector one), so the
      -- relative error is taken against at least 0.01
      worst_g = math.max(worst_g, math.abs(x.grad[i] - eg) / math.max(math.abs(eg), 1e-2))
    end
    assert.is_true(worst_y < 1e-5, "silu relative error " .. worst_y)
    assert.is_true(worst_g < 1e-5, "silu' relative error " .. worst_g)
    local n = cil.tensor{0 / 0, -math.huge}:silu()
    assert.is_true(n[1] ~= n[1])   -- NaN stays NaN
    assert.are.equal(-math.huge, n[2]) -- exp's argument is capped, so -inf / (1 + finite): -inf, as the scalar kernel
  end)
  it("silu', silu'' and silu''' (double and triple backward) match their closed forms over a long vector", function()
    local xs = {-100, -30, 30, 100, 0}
    for i = 1, 1000 do xs[#xs + 1] = -12 + 24 * (i - 1) / 999 end -- 1005 values: a ragged vector tail
    local x = cil.param(cil.tensor(xs))
    local d1 = cil.grad(x:silu():sum(), x, {create_graph = true})
    local d2 = cil.grad(d1:sum(), x, {create_graph = true})
    local d3 = cil.grad(d2:sum(), x)
    local worst = {0, 0, 0}
    for i, v in ipairs(xs) do
      local s = 1 / (1 + math.exp(-v))
      local q = 1 - 2 * s
      local e = {s * (1 + v * (1 - s)), s * (1 - s) * (2 + v * q), s * (1 - s) * (q * (3 + v * q) - 2 * v * s * (1 - s))}
      for k, d in ipairs({d1, d2, d3}) do
        -- each crosses 0 somewhere, where float32 keeps an absolute error: relative against at least 0.01;
        -- silu'' and silu''' carry 1 - s, which float32 holds to ~1 % near |x| = 12 (measured: 6e-5, 5e-5)
        worst[k] = math.max(worst[k], math.abs(d[i] - e[k]) / math.max(math.abs(e[k]), 1e-2))
      end
    end
    assert.is_true(worst[1] < 1e-5, "silu' error " .. worst[1])
    assert.is_true(worst[2] < 2e-4, "silu'' error " .. worst[2])
    assert.is_true(worst[3] < 2e-4, "silu''' error " .. worst[3])
    local n = cil.param(cil.tensor{0 / 0, 1, -1e38})
    local g = cil.grad(n:silu():sum(), n, {create_graph = true})
    assert.is_true(g[1] ~= g[1]) -- NaN stays NaN in the derivative
    local g2 = cil.grad(g:sum(), n, {create_graph = true})
    assert.is_true(g2[1] ~= g2[1])
    -- far below: the sigmoid is 0 there, and so are the derivatives (not x times exp's floor)
    local g3 = cil.grad(g2:sum(), n)
    for _, d in ipairs({g, g2, g3}) do assert.are.equal(0, d[3]) end
  end)
  it("max gradient splits ties evenly (the gradient penalty's inf-norm)", function()
    local x = cil.param(cil.tensor{{1, 3, 3}})
    x:abs():max(2):sum():backward()
    assert.is_true(all_close(x.grad, {0, 0.5, 0.5}))
  end)
  it("sumsq is square():sum() in value, gradient bits and second derivative", function()
    cil.manual_seed(3)
    local w = cil.param(cil.randn(7, 33, 29))           -- not a multiple of the 8 lanes
    local a = cil.param(cil.randn(7, 33, 29))
    a:copy_(w)
    assert.is_true(close(w:sumsq():item(), w:square():sum():item(), 1e-6 * w:square():sum():item()))
    assert.is_true(close(cil.tensor{3, 4}:sumsq():item(), 25))
    assert.are.same({}, w:sumsq():shape());
    (w:sumsq() * 0.37):backward();
    (a:square():sum() * 0.37):backward()
    assert.are.same(a.grad:totable(), w.grad:totable())  -- (2g) x and g (2x): the same floats
    local x = cil.tensor{1, -2, 3}:requires_grad_()
    local g = cil.grad(x:sumsq() * x:sumsq(), x, {create_graph = true})  -- 4 s x, s = 14
    assert.is_true(all_close(g, {56, -112, 168}))
    local h = cil.grad(g:sum(), x)                       -- 8 x (x . 1) + 4 s
    assert.is_true(all_close(h, {8 * 2 + 56, -16 * 2 + 56, 24 * 2 + 56}))
    assert.is_true(cil.tensor{1, 0 / 0}:sumsq():item() ~= cil.tensor{1, 0 / 0}:sumsq():item()) -- NaN stays NaN
  end)
end)

describe("autograd", function()
  it("backward accumulates into leaves; zero_grad clears", function()
    local w = cil.param(cil.tensor{1, 2})
    for _ = 1, 2 do (w * w):sum():backward() end
    assert.is_true(all_close(w.grad, {4, 8}))
    w:zero_grad()
    assert.is_true(all_close(w.grad, {0, 0}))
    w.grad = nil
    assert.is_nil(w.grad)
  end)
  it("grad() with create_graph gives second derivatives", function()
    local x = cil.tensor{1, 2, 3}:requires_grad_()
    local y = (x ^ 3):sum()
    local g = cil.grad(y, x, {create_graph = true})
    assert.is_true(all_close(g, {3, 12, 27}))
    local h = cil.grad(g:sum(), x)
    assert.is_true(all_close(h, {6, 12, 18}))
  end)
  it("backward restricted to inputs leaves other leaves alone", function()
    local a, b = cil.param(cil.tensor{1}), cil.param(cil.tensor{2})
    ;(a * b):sum():backward({inputs = {a}})
    assert.is_true(all_close(a.grad, {2}))
    assert.is_nil(b.grad)
  end)
  it("no_grad records nothing", function()
    local w = cil.param(cil.tensor{1})
    local y = cil.no_grad(function() return w * 2 end)
    assert.is_false(y:requires_grad())
    assert.is_true(cil.is_grad_enabled())
  end)
  it("detach cuts the graph", function()
    local w = cil.param(cil.tensor{3})
    local y = (w:detach() * w):sum()
    y:backward()
    assert.is_true(all_close(w.grad, {3}))
  end)
end)

describe("memory model", function()
  it("reset frees arena tensors and stale handles raise an error", function()
    local x = cil.ones(3)
    local p = x:persist()
    cil.reset()
    local ok, err = pcall(function() return x + 1 end)
    assert.is_false(ok)
    assert.matches("freed by cil.reset", err)
    assert.are.equal(3, (p + 0):sum():item())
    assert.are.equal("tensor (freed)", tostring(x))
  end)
  it("persistent tensors used by a graph survive their handle being collected", function()
    local x = cil.ones(4)
    local loss = (cil.param(cil.ones(4)) * x):sum()
    collectgarbage(); collectgarbage()
    loss:backward()
    assert.are.equal(4, loss:item())
    cil.reset()
  end)
end)

describe("errors are Lua errors naming the op and shapes", function()
  local function err(f)
    local ok, e = pcall(f)
    assert.is_false(ok)
    return e
  end
  it("shape mismatch", function()
    assert.matches("add: shapes %[2, 3%] and %[4%] cannot be broadcast", err(function() return cil.ones(2, 3) + cil.ones(4) end))
    assert.matches("matmul: .* inner sizes 3 and 4 differ", err(function() return cil.ones(2, 3):matmul(cil.ones(4, 2)) end))
    assert.matches("linear: input %[2, 17%] has 17 columns, weight %[5, 11%] expects 11",
      err(function() return cil.linear(cil.ones(2, 17), cil.ones(5, 11)) end))
    assert.matches("reshape: %[2, 3%] has 6 elements", err(function() return cil.ones(2, 3):reshape(4) end))
    assert.matches("cat: tensor 2 is", err(function() return cil.cat({cil.ones(2, 3), cil.ones(2, 4)}, 1) end))
  end)
  it("wrong argument types", function()
    assert.matches("tensor expected, got string", err(function() return cil.ones(2) + "x" end))
    assert.matches("element is a string", err(function() return cil.tensor{1, "a"} end))
    assert.matches("ragged", err(function() return cil.tensor{{1, 2}, {3}} end))
  end)
  it("out-of-range indices and dims", function()
    assert.matches("index 3 out of range 1..2", err(function() return cil.ones(2)[3] end))
    assert.matches("index_select: index 5 out of range", err(function() return cil.ones(3, 2):index_select(1, cil.tensor{5}) end))
    assert.matches("dim 3 out of range", err(function() return cil.ones(2, 2):sum(3) end))
    assert.matches("narrow: rows", err(function() return cil.ones(4):narrow(1, 3, 5) end))
  end)
  it("unsupported rank", function()
    assert.matches("transpose: needs a 2%-D tensor", err(function() return cil.ones(2, 2, 2):t() end))
    assert.matches("at most 4", err(function() return cil.zeros{1, 1, 1, 1, 1} end))
    assert.matches("item: tensor %[3%] has 3 elements", err(function() return cil.ones(3):item() end))
  end)
  it("autograd misuse", function()
    assert.matches("does not require grad", err(function() cil.ones(1):sum():backward() end))
    assert.matches("non%-scalar", err(function() cil.param(cil.ones(2)):mul(2):backward() end))
    assert.matches("cannot modify", err(function() cil.param(cil.ones(2)):mul(2):fill_(0) end))
  end)
end)
