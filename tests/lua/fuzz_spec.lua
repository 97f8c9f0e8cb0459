-- Bad input gets a Lua error, never a crash: every engine function and tensor method is called with
-- combinations of odd arguments (nil, negative and fractional numbers, strings, tables, booleans,
-- tensors of several shapes, a freed tensor) under pcall. Reaching the end is the assertion.
local cil = require "cleanil"

-- functions that sleep, write files or change global state for the rest of the suite
local skip = {reset = true, set_num_threads = true, manual_seed = true, save = true, save_d4rl = true,
  sgemm_gflops = true, help = true, set_grad_enabled = true, default_rng_state = true}

local function values()
  local t23 = cil.tensor{{1, 2, 3}, {4, 5, 6}}
  return {nil, 0, -1, 2.5, 3, 1e300, 0 / 0, "x", "", {}, {2, 3}, {{1}}, true, t23, cil.tensor(1.5),
    cil.ones(3), cil.zeros(2, 2, 2), cil.zeros(0), cil.rng(1), print}
end

local function call_all(name, f, vals, calls)
  local n = #vals
  -- no args, one arg, all pairs, and a sample of triples
  pcall(f); calls = calls + 1
  for i = 1, n do pcall(f, vals[i]); calls = calls + 1 end
  for i = 1, n do
    for j = 1, n do pcall(f, vals[i], vals[j]); calls = calls + 1 end
  end
  for i = 1, n, 2 do
    for j = 1, n, 3 do
      for k = 1, n, 2 do pcall(f, vals[i], vals[j], vals[k]); calls = calls + 1 end
    end
  end
  return calls
end

describe("fuzzing the bindings", function()
  it("survives odd arguments to every module function and tensor method", function()
    local calls, fns = 0, 0
    local stale = cil.ones(2)
    cil.reset()
    local function sweep(tbl, prefix)
      local names = {}
      for k, v in pairs(tbl) do if type(v) == "function" and not skip[k] then names[#names + 1] = k end end
      table.sort(names)
      for _, k in ipairs(names) do
        local vals = values()
        vals[#vals + 1] = stale
        calls = call_all(prefix .. k, tbl[k], vals, calls)
        fns = fns + 1
        cil.reset()
      end
    end
    sweep(cil, "cil.")
    for _, sub in ipairs({"optim", "data", "checkpoint", "env", "sys", "nn"}) do
      if type(cil[sub]) == "table" then sweep(cil[sub], "cil." .. sub .. ".") end
    end
    -- tensor methods with the tensor as self
    local mt = getmetatable(cil.ones(1))
    local methods = mt.methods
    local names = {}
    for k in pairs(methods) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do
      local vals = values()
      for _, self in ipairs({cil.ones(2, 3), cil.tensor(2), cil.param(cil.ones(3))}) do
        local f = function(...) return methods[k](self, ...) end
        calls = call_all("tensor:" .. k, f, vals, calls)
      end
      fns = fns + 1
      cil.reset()
    end
    print(string.format("\n%d functions, %d calls, no crash", fns, calls))
    assert.is_true(fns > 100)
    assert.is_true(cil.is_grad_enabled())
    cil.set_num_threads(1)
  end)
end)
