-- cil.set_precision / cil.precision (bindings/l_precision.c): the settings round-trip, bad values are
-- errors, bf16 changes a GEMM's result only where it should (globally, or under no_grad with
-- no_grad = "bf16"), and float32 results are bit for bit the same after switching back. The kernel
-- itself is tested in tests/c/test_gemm_bf16.c.
local cil = require "cleanil"

describe("GEMM precision", function()
  local rng = cil.rng(7)
  local a = cil.randn(rng, 64, 48):persist()
  local b = cil.randn(rng, 48, 40):persist()
  local function prod() return a:matmul(b):totable() end
  after_each(function() cil.set_precision("fp32") end)

  it("round-trips and rejects bad values", function()
    local p, ng, supported = cil.precision()
    assert.are.equal("fp32", p)
    assert.are.equal("fp32", ng)
    assert.are.equal("boolean", type(supported))
    cil.set_precision("fp32", {no_grad = "bf16"})
    p, ng = cil.precision()
    assert.are.equal("fp32", p)
    assert.are.equal(supported and "bf16" or "fp32", ng)
    cil.set_precision("bf16")
    p, ng = cil.precision()
    assert.are.equal(supported and "bf16" or "fp32", p)
    assert.are.equal(supported and "bf16" or "fp32", ng)
    assert.has_error(function() cil.set_precision("fp16") end)
    assert.has_error(function() cil.set_precision("bf16", {no_grad = "fp32"}) end)
    assert.has_error(function() cil.set_precision("fp32", {no_grad = "half"}) end)
  end)

  it("bf16 where asked for, float32 bits back after switching", function()
    local _, _, supported = cil.precision()
    local f0 = prod()
    cil.set_precision("bf16")
    local bf = prod()
    cil.set_precision("fp32", {no_grad = "bf16"})
    local with_grad = prod()
    local under_no_grad = cil.no_grad(function() return prod() end)
    cil.set_precision("fp32")
    assert.are.same(f0, prod())
    assert.are.same(f0, with_grad)
    assert.are.same(bf, under_no_grad)
    if supported then
      assert.are_not.same(f0, bf)
      -- within the bound of tests/c/test_gemm_bf16.c: |err| <= (2^-7 + 2^-16 + gamma_52) sum |a||b|
      local A, B = a:totable(), b:totable()
      for i = 1, 64, 7 do
        for j = 1, 40, 5 do
          local mag = 0
          for p = 1, 48 do mag = mag + math.abs(A[i][p] * B[p][j]) end
          assert.is_true(math.abs(bf[i][j] - f0[i][j]) <= (2 ^ -7 + 2 ^ -16 + 60 * 2 ^ -24) * mag)
        end
      end
    else
      assert.are.same(f0, bf)
    end
  end)
end)

describe("bf16 notice", function()
  -- the one-line note where vdpbf16ps is no faster than float32 FMAs (Intel Sapphire/Emerald Rapids:
  -- half their rate); the peaks are stubbed here, so the test says the same on every CPU
  local function notice(pb, pf, prec, supported)
    local saved_peak, saved_prec, saved_err = cil.sys.peak_gflops, cil.precision, io.stderr
    local out = {}
    cil.sys.peak_gflops = function(kind) return kind == "bf16" and pb or pf end
    cil.precision = function() return prec, prec, supported end
    io.stderr = {write = function(_, s) out[#out + 1] = s end}
    local ok, err = pcall(cil.run.bf16_notice, "sac", {precision = prec, nograd_precision = prec})
    cil.sys.peak_gflops, cil.precision, io.stderr = saved_peak, saved_prec, saved_err
    assert(ok, err)
    return table.concat(out)
  end
  it("is printed where bf16 peaks below 1.2x float32, and only there", function()
    assert.truthy(notice(84, 167, "bf16", true):find("0.50x", 1, true))
    assert.are.equal("", notice(512, 257, "bf16", true))      -- Zen 5: twice float32, no note
    assert.are.equal("", notice(84, 167, "fp32", true))       -- a float32 run: nothing measured
    assert.are.equal("", notice(84, 167, "bf16", false))      -- no AVX512-BF16: the engine's own notice
  end)
end)

-- engine/core/fpenv.c: subnormal floats are flushed to zero on the main thread and on every pool worker
describe("subnormal floats", function()
  after_each(function() cil.sys.flush_subnormals(true); cil.set_num_threads(1) end)
  local function counts(threads)
    cil.set_num_threads(threads)
    -- 2^20 elements of a same-shape product: split across the pool at 2 threads (the worker takes the
    -- upper half), so both threads' results are looked at; the workers exist before the switch below
    local x = cil.full({1 << 20}, 2 ^ -100)
    local y = x * cil.full({1 << 20}, 2 ^ -30) -- 2^-130: subnormal in float32 (smallest normal 2^-126)
    local half = 1 << 19
    local lo, hi = y:narrow(1, 1, half), y:narrow(1, half + 1, half)
    return (lo:ne(0):sum()):item(), (hi:ne(0):sum()):item()
  end
  it("are flushed by default, on every thread, and kept when asked", function()
    assert.is_true(cil.sys.flush_subnormals())
    for _, th in ipairs({1, 2}) do
      local a, b = counts(th)
      assert.are.equal(0, a, "thread count " .. th)
      assert.are.equal(0, b, "thread count " .. th)
    end
    assert.is_false(cil.sys.flush_subnormals(false))
    for _, th in ipairs({1, 2}) do
      local a, b = counts(th)
      assert.are.equal(1 << 19, a, "thread count " .. th)
      assert.are.equal(1 << 19, b, "thread count " .. th)
    end
    -- a GEMM with a subnormal operand: 0 when flushed (DAZ), the exact product when not
    local s = cil.full({4, 4}, 2 ^ -130)
    local one = cil.full({4, 4}, 1)
    assert.is_true(s:matmul(one):sum():item() > 0)
    cil.sys.flush_subnormals(true)
    assert.are.equal(0, s:matmul(one):sum():item())
    assert.has_error(function() cil.sys.flush_subnormals("yes") end)
  end)
end)
