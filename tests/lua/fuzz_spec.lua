-- Bad input gets a Lua error, never a crash: every engine function and tensor method is called with
-- combinations of odd arguments (nil, negative and fractional numbers, strings, tables, booleans,
-- tensors of several shapes, a freed tensor) under pcall. Reaching the end is the assertion.
local cil = require "cleanil"

-- functions that sleep, write files or change global state for the rest of the suite
local skip = {reset = true, set_num_threads = true, manual_seed = true, save = true, save_d4rl = true,
  sgemm_gflops = true, peak_gflops = true, sleep = true, help = true, set_grad_enabled = true, default_rng_state = true}

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

-- Generators for the classes of issue 15 that the sweep above does not reach.
describe("fuzzing sizes, indices and userdata types", function()
  local big = {0, 1, 3, 65536, 2147483647, 2147483648, -1, -2, math.maxinteger, math.mininteger, 2.5, 0 / 0, 1 / 0}
  -- elements a shape would really allocate (sizes that are whole numbers in 0..2^31-1; others are refused)
  local function real_numel(dims)
    local n = 1
    for _, d in ipairs(dims) do
      if not (d == d and d >= 0 and d <= 2147483647 and d % 1 == 0) then return 0 end
      n = n * d
    end
    return n
  end
  it("shapes near the integer limits (1 to 4 dims) are tensors or errors, never a wrapped size", function()
    local calls, made = 0, 0
    local base0, base1 = cil.zeros(0), cil.ones(1)
    local fns = {
      function(...) return cil.zeros(...) end, function(...) return cil.ones(...) end,
      function(...) return cil.randn(...) end, function(...) return cil.param(...) end,
      function(...) return cil.zeros{...} end, function(...) return base0:reshape(...) end,
      function(...) return base1:expand(...) end, function(...) return cil.persistent(...) end}
    local n = #big
    local dims = {}
    local function visit(depth)
      if depth > 0 then
        -- skip only shapes that would really allocate more than 2^16 elements (time and memory, not safety)
        if real_numel(dims) <= 2 ^ 16 then
          for _, f in ipairs(fns) do
            local ok, t = pcall(f, table.unpack(dims))
            calls = calls + 1
            if ok then
              made = made + 1
              local want = 1
              for _, d in ipairs(t:shape()) do want = want * d end
              assert.are.equal(want, t:numel())
              assert.is_true(t:numel() <= 2 ^ 16)
            end
          end
        end
      end
      if depth == 4 then return end
      for i = 1, n do
        dims[depth + 1] = big[i]
        visit(depth + 1)
        dims[depth + 1] = nil
      end
      cil.reset()
      base0, base1 = cil.zeros(0), cil.ones(1)
    end
    visit(0)
    print(string.format("\nshapes: %d calls, %d tensors made, no crash", calls, made))
    assert.is_true(calls > 100000)
  end)
  it("NaN, +-inf and huge values as indices, rows and bounds are errors", function()
    local x = cil.ones(3, 2)
    local pt = cil.persistent(3, 2)
    local vals = {0 / 0, 1 / 0, -1 / 0, 1e30, -1e30, 2 ^ 63, -2 ^ 63, 2 ^ 53 + 1, 0, -1, 4, 1.5}
    local ints = {math.maxinteger, math.mininteger, math.maxinteger - 1, math.mininteger + 1, 0, -1, 2 ^ 31, 4}
    local calls = 0
    for _, v in ipairs(vals) do
      for _, f in ipairs{
        function() return x:index_select(1, cil.tensor{v}) end, function() return x:index_select(2, cil.tensor{1, v}) end,
        function() return x:gather(1, cil.tensor{{v, 1}}) end, function() return x:gather(2, cil.tensor{{1}, {v}, {1}}) end,
        function() return cil.data.take(pt, cil.tensor{v}) end, function() return cil.data.take(pt, {v}) end} do
        assert.is_false(pcall(f))
        calls = calls + 1
      end
    end
    local b = cil.data.buffer(4, 2, 1)
    b:add(cil.ones(3, 2), cil.ones(3, 1), cil.ones(3), cil.ones(3, 2), cil.zeros(3))
    for _, i in ipairs(ints) do
      for _, j in ipairs(ints) do
        for _, f in ipairs{
          function() return x:rows(i, j) end, function() return x:narrow(1, i, j) end, function() return b:rows(i, j) end,
          function() return cil.randint(i, j, 2) end, function() return cil.data.ranges_index({{start = i, length = j}}) end,
          function() return x[i] end} do
          pcall(f)
          calls = calls + 1
        end
      end
    end
    print(string.format("\nindices and bounds: %d calls, no crash", calls))
    cil.reset()
  end)
  it("every userdata type given every other type's metatable is refused, never misread", function()
    local p = cil.param(cil.ones(2))
    local env = cil.env.make("hopper")
    local makers = {
      function() return cil.ones(2) end, function() return cil.param(cil.ones(2)) end,
      function() return cil.rng(1) end, function() return cil.env.make("hopper") end,
      function() return cil.optim.Adam({p}, {lr = 1e-3}) end, function() return cil.data.buffer(4, 2, 1) end,
      function() return io.tmpfile() end}
    local mts = {getmetatable(cil.ones(2)), getmetatable(cil.param(cil.ones(2))), getmetatable(cil.rng(1)),
      getmetatable(env), getmetatable(cil.optim.Adam({p}, {lr = 1e-3})), getmetatable(cil.data.buffer(4, 2, 1))}
    local calls = 0
    local no_files = {save = true, load = true} -- a buffer's methods would read and write files "1", "2"
    for _, mt in ipairs(mts) do
      local methods = type(mt.__index) == "table" and mt.__index or mt.methods
      local names = {}
      for k in pairs(methods) do if not no_files[k] then names[#names + 1] = k end end
      table.sort(names)
      for _, make in ipairs(makers) do
        for _, k in ipairs(names) do
          local u = make()
          local orig = getmetatable(u)
          debug.setmetatable(u, mt)
          for _, args in ipairs{{}, {1}, {2, 3}, {cil.ones(2)}} do
            pcall(function() return u[k](u, table.unpack(args)) end)
            pcall(function() return tostring(u), #u end)
            calls = calls + 1
          end
          debug.setmetatable(u, orig)
          if io.type(u) == "file" then u:close() end
        end
        cil.reset()
      end
    end
    env:close()
    print(string.format("\nmetatable swaps: %d calls, no crash", calls))
    assert.is_true(calls > 500)
  end)
end)
