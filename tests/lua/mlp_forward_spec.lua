-- cil.mlp_forward (engine/core/mlp_forward.c): a whole MLP without a graph in blocks of 512 rows, which
-- must give the bits of the layer-by-layer ops whatever the rows, members, threads and precision, fall
-- back to those ops where blocks could change bits (thin layers, a graph), and reject bad layer lists.
local cil = require "cleanil"

local ACTS = {"silu", "relu", "tanh", "sigmoid"}

-- the layer-by-layer result, op by op (what the modules computed before the blocked pass existed)
local function layered(x, ws, bs, act, kind)
  local n = #ws
  for i = 1, n do
    if kind == "ensemble" then x = cil.ensemble_linear(x, ws[i], bs[i] or nil)
    else x = cil.linear(x, ws[i], bs[i] or nil) end
    if i < n then x = cil.nn.activations[act](x) end
  end
  return x
end
local function layers(kind, sizes, E, seed, with_bias)
  local g = cil.rng(seed)
  local ws, bs = {}, {}
  for i = 1, #sizes - 1 do
    local a, b = sizes[i], sizes[i + 1]
    ws[i] = kind == "ensemble" and cil.randn(g, E, a, b) * (1 / math.sqrt(a)) or cil.randn(g, b, a) * (1 / math.sqrt(a))
    bs[i] = with_bias and (kind == "ensemble" and cil.randn(g, E, 1, b) or cil.randn(g, b)) * 0.1 or false
    ws[i] = ws[i]:persist()
    if bs[i] then bs[i] = bs[i]:persist() end
  end
  return ws, bs
end
local function same(a, b)
  assert.are.same(a:shape(), b:shape())
  return a:eq(b):sum():item() == a:numel()
end

describe("mlp_forward", function()
  local prev_threads = cil.get_num_threads()
  local prev_prec = cil.precision()
  after_each(function()
    cil.set_num_threads(prev_threads)
    cil.set_precision(prev_prec)
  end)
  local _, _, bf16 = cil.precision()
  local precisions = bf16 and {"fp32", "bf16"} or {"fp32"}

  it("an ensemble in row blocks gives the layer-by-layer bits (1 and 2 threads, fp32 and bf16)", function()
    -- 1100 rows: two 512-row blocks and a ragged 76; 2500: five; a shared [B, in] input and one per member
    for _, prec in ipairs(precisions) do
      cil.set_precision(prec)
      for _, t in ipairs({1, 2}) do
        cil.set_num_threads(t)
        for _, c in ipairs({{7, 1100, {14, 200, 200, 24}, true}, {3, 2500, {5, 40, 17}, false}}) do
          local E, B, sizes, shared = c[1], c[2], c[3], c[4]
          local ws, bs = layers("ensemble", sizes, E, 11, true)
          local x = shared and cil.randn(cil.rng(3), B, sizes[1]) or cil.randn(cil.rng(3), E, B, sizes[1])
          for _, act in ipairs(ACTS) do
            cil.no_grad(function()
              local want, n0 = layered(x, ws, bs, act, "ensemble"), cil.sys.mlp_blocked_passes()
              local got = cil.mlp_forward(x, ws, bs, act, "ensemble")
              assert.are.equal(n0 + 1, cil.sys.mlp_blocked_passes())     -- the blocked path ran
              assert.is_true(same(want, got), ("%s %d threads %s %s"):format(prec, t, act, table.concat(sizes, "-")))
            end)
          end
        end
      end
    end
  end)

  it("plain layers with a thin head: the wide layers in blocks, the head as an op; same bits", function()
    for _, prec in ipairs(precisions) do
      cil.set_precision(prec)
      for _, t in ipairs({1, 2}) do
        cil.set_num_threads(t)
        -- an actor's shape (11 -> 256 x 3 -> 6) and one whose second layer is thin (nothing after it blocked)
        for _, sizes in ipairs({{11, 256, 256, 256, 6}, {8, 32, 4, 32}}) do
          local ws, bs = layers("linear", sizes, 1, 5, true)
          local x = cil.randn(cil.rng(4), 3000, sizes[1])
          cil.no_grad(function()
            local want, got = layered(x, ws, bs, "silu", "linear"), cil.mlp_forward(x, ws, bs, "silu", "linear")
            assert.is_true(same(want, got), prec .. " " .. table.concat(sizes, "-"))
          end)
        end
        -- no biases, no activation, a 3-D input
        local ws = layers("linear", {6, 64, 32}, 1, 6, false)
        local x = cil.randn(cil.rng(5), 4, 600, 6)
        cil.no_grad(function()
          local want = cil.linear(cil.linear(x, ws[1]), ws[2])
          assert.is_true(same(want, cil.mlp_forward(x, ws, nil, nil, "linear")))
        end)
      end
    end
  end)

  it("the modules use it on many rows, and their outputs do not change", function()
    local net = cil.nn.EnsembleMLP(7, 14, {200, 200}, 24, {rng = cil.rng(8)})
    local mlp = cil.nn.MLP(11, {64, 64}, 6, {rng = cil.rng(9)})
    local xe, xm = cil.randn(cil.rng(1), 2000, 14), cil.randn(cil.rng(2), 2000, 11)
    local n0 = cil.sys.mlp_blocked_passes()
    local ye, ym = net(xe), mlp(xm)         -- with a graph: the layer-by-layer ops
    assert.are.equal(n0, cil.sys.mlp_blocked_passes())
    cil.no_grad(function()
      assert.is_true(same(ye, net(xe)))
      assert.is_true(same(ym, mlp(xm)))
      assert.are.equal(n0 + 2, cil.sys.mlp_blocked_passes())
      net(xe:narrow(1, 1, 1000))            -- fewer than 1024 rows: layer by layer
      assert.are.equal(n0 + 2, cil.sys.mlp_blocked_passes())
    end)
  end)

  it("with a graph it is the differentiable ops (gradients flow)", function()
    local ws, bs = layers("ensemble", {4, 32, 16}, 2, 7, true)
    local w1 = cil.param(ws[1])
    local x = cil.randn(cil.rng(6), 1200, 4)
    cil.mlp_forward(x, {w1, ws[2]}, bs, "tanh", "ensemble"):sum():backward()
    assert.is_true(w1.grad:abs():sum():item() > 0)
  end)

  it("bad layer lists are clear errors", function()
    local ws, bs = layers("ensemble", {4, 32, 16}, 2, 7, true)
    local x = cil.randn(1200, 4)
    local function err(f)
      local ok, e = pcall(f)
      assert.is_false(ok)
      return tostring(e)
    end
    assert.matches("layer 2 weight .* takes 16 inputs, layer 1 gives 32",
      err(function() return cil.mlp_forward(x, {ws[1], cil.randn(2, 16, 16)}, nil, "silu", "ensemble") end))
    assert.matches("2 weights but 1 biases", err(function() return cil.mlp_forward(x, ws, {bs[1]}, "silu", "ensemble") end))
    assert.matches("must be %[E, in, out%]", err(function() return cil.mlp_forward(x, {cil.randn(4, 32)}, nil, nil, "ensemble") end))
    assert.matches("does not fit", err(function() return cil.mlp_forward(cil.randn(1200, 5), ws, bs, "silu", "ensemble") end))
    assert.matches("has 3 members, layer 1 has 2",
      err(function() return cil.mlp_forward(x, {ws[1], cil.randn(3, 32, 16)}, nil, "silu", "ensemble") end))
    assert.matches("1 to 64", err(function() return cil.mlp_forward(x, {}, nil, "silu") end))
    assert.has_error(function() cil.mlp_forward(x, ws, bs, "gelu", "ensemble") end)
    assert.has_error(function() cil.mlp_forward(x, ws, bs, "silu", "conv") end)
    -- a malformed bias: the op's own message
    assert.matches("bias", err(function() return cil.mlp_forward(x, ws, {bs[1], cil.randn(2, 1, 5)}, "silu", "ensemble") end))
  end)
end)
