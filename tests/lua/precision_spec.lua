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
