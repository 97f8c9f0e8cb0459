-- Hardening of the C engine and its bindings (issue 15): each describe block is one class of input
-- that used to crash the program, corrupt memory or be silently accepted. Cases that crashed run in a
-- child process, so that a regression shows as a failed test, not as a dead test runner.
local cil = require "cleanil"

local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"
local TMP = os.tmpname()
os.remove(TMP)
os.execute("mkdir -p " .. TMP)
teardown(function() os.execute("rm -rf '" .. TMP .. "'") end)

-- run Lua code (or a shell command line for the program) in a child cleanil; returns output, exit ok
local function child(code, args, stdin)
  local script = TMP .. "/child.lua"
  local f = assert(io.open(script, "w"))
  f:write(code or "")
  f:close()
  local cmd
  if stdin then
    local inp = TMP .. "/stdin.txt"
    local g = assert(io.open(inp, "w"))
    g:write(stdin)
    g:close()
    cmd = string.format("timeout 120 %s < %s 2>&1", BIN, inp)
  else
    cmd = string.format("timeout 120 %s %s %s 2>&1", BIN, script, args or "")
  end
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, _, rc = p:close()
  return out, ok, rc
end

local function err(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok)
  return tostring(e)
end

local function deep_path(n)
  local parts = {}
  for i = 1, n do parts[i] = "g" end
  return table.concat(parts, "/")
end
local function tiny_dataset()
  return {observations = cil.zeros(4, 3), actions = cil.zeros(4, 2), rewards = cil.zeros(4),
    terminals = cil.zeros(4), timeouts = cil.zeros(4)}
end

describe("Lua stack growth", function()
  it("a script gets 300 command-line arguments intact", function()
    local args = {}
    for i = 1, 300 do args[i] = "a" .. i end
    local out, ok = child('print(select("#", ...), arg[300], (select(300, ...)))', table.concat(args, " "))
    assert.is_true(ok, out)
    assert.matches("^300\ta300\ta300\n$", out)
  end)
  it("D4RL infos nested 150 and 300 groups deep are a clear error, not a stack overflow", function()
    for _, n in ipairs{150, 300} do
      local path = TMP .. "/deep" .. n .. ".h5"
      local d = tiny_dataset()
      d.infos = {[deep_path(n)] = {x = 1}} -- '/' in a key makes HDF5 create the groups in between
      cil.data.save_d4rl(path, d)
      local out, ok = child(string.format("print(pcall(cil.data.load_d4rl, %q))", path))
      assert.is_true(ok, out)
      assert.matches("false\t.*load_d4rl: group 'g' is nested more than 64 levels deep", out)
    end
  end)
  it("D4RL infos nested 40 deep still load", function()
    local path = TMP .. "/deep40.h5"
    local d = tiny_dataset()
    d.infos = {[deep_path(40)] = {x = 5}}
    cil.data.save_d4rl(path, d)
    local t = cil.data.load_d4rl(path).infos
    for _ = 1, 40 do t = t.g end
    assert.are.equal(5, t.x)
  end)
  it("a checkpoint whose tables nest 300 deep is a clear error, not a stack overflow", function()
    local helper = BIN:match("^(.*)/[^/]*$") .. "/test_hardening" -- built beside cleanil (tests/c)
    local path = TMP .. "/ck300.h5"
    assert.is_true(os.execute(string.format("%s --deep-checkpoint %s 300", helper, path)) == true)
    local out, ok = child(string.format("print(pcall(cil.checkpoint.load, %q))", path))
    assert.is_true(ok, out)
    assert.matches("false\t.*checkpoint.load: table 't' is nested more than 64 levels deep", out)
    -- 60 deep is within what checkpoint.save writes: it loads
    path = TMP .. "/ck60.h5"
    assert.is_true(os.execute(string.format("%s --deep-checkpoint %s 60", helper, path)) == true)
    local t = cil.checkpoint.load(path)
    for _ = 1, 60 do t = t.t end
    assert.are.equal(7, t.leaf)
  end)
end)

describe("REPL", function()
  it("input ending inside a statement is a syntax error, not a PANIC", function()
    local out, ok = child(nil, nil, "x = \n")
    assert.is_true(ok, out)
    assert.is_nil(out:find("PANIC"))
    assert.matches("unexpected symbol near <eof>", out)
  end)
  it("a result whose __tostring raises is reported and the REPL goes on", function()
    local out, ok = child(nil, nil,
      'setmetatable({}, {__tostring = function() error("boom in tostring") end})\nprint("still " .. "here")\n')
    assert.is_true(ok, out)
    assert.is_nil(out:find("PANIC"))
    assert.matches("boom in tostring", out)
    assert.matches("still here", out)
  end)
end)

describe("integer overflow in sizes", function()
  it("a shape of 65536^4 elements is an error, not 0 elements", function()
    assert.matches("too large", err(cil.zeros, 65536, 65536, 65536, 65536))
    assert.matches("too large", err(cil.zeros, 0, 65536, 65536, 65536))
    assert.are.equal(0, cil.zeros(0, 3, 5, 7):numel())
  end)
  it("expand to a wrapping shape is an error, not an out-of-bounds write", function()
    local out, ok = child("print(pcall(function() return cil.ones(1):expand(65536, 65536, 65536, 65536) end))")
    assert.is_true(ok, out)
    assert.matches("false\t.*too large", out)
  end)
  it("reshape refuses sizes whose product only wraps to the element count", function()
    assert.matches("reshape: %[0%] has 0 elements, the sizes asked for multiply to more than",
      err(function() return cil.zeros(0):reshape(65536, 65536, 65536, 65536) end))
    assert.matches("reshape", err(function() return cil.ones(6):reshape(65536, 65536, 65536, 65536) end))
  end)
  it("ranges_index totals cannot wrap", function()
    local out, ok = child([[print(pcall(cil.data.ranges_index, {{start = 1, length = math.maxinteger},
      {start = 1, length = math.maxinteger}, {start = 1, length = 2}}))]])
    assert.is_true(ok, out)
    assert.matches("false\t.*ranges_index: .*2%^24", out)
    assert.matches("beyond row 2%^24", err(cil.data.ranges_index, {{start = math.maxinteger, length = 2}}))
    assert.matches("negative length", err(cil.data.ranges_index, {{start = 1, length = -1}}))
    assert.are.same({3, 4, 9}, cil.data.ranges_index({{start = 3, length = 2}, {start = 9, length = 1}}):totable())
  end)
  it("a zero-width input to linear is an error, not SIGFPE in its backward", function()
    local out, ok = child([[
      local x, w = cil.param(cil.ones(2, 0)), cil.param(cil.ones(3, 0))
      print(pcall(function() cil.linear(x, w):sum():backward() end))
      print(pcall(function() return cil.ensemble_linear(cil.ones(4, 0), cil.param(cil.zeros(2, 0, 3))) end))]])
    assert.is_true(ok, out)
    assert.matches("false\t.*linear: input %[2, 0%] has 0 features", out)
    assert.matches("false\t.*ensemble linear: input %[4, 0%] has 0 features", out)
  end)
end)

describe("shape arguments", function()
  it("sizes that are not whole numbers in range are errors, not a scalar", function()
    assert.matches("zeros: size 1 is 1e%+12, out of range", err(cil.zeros, 1e12))
    assert.matches("zeros: size 1 is 2.5, not a whole number", err(cil.zeros, 2.5))
    assert.matches("zeros: size 1 is a string, expected a whole number", err(cil.zeros, "3"))
    assert.matches("zeros: size 1 is nil, expected a whole number", err(cil.zeros, nil, 3))
    assert.matches("zeros: size 2 is a string", err(cil.zeros, {2, "3"}))
    assert.matches("size 1 is 1e%+300, out of range", err(cil.zeros, {1e300}))
    assert.matches("not a whole number", err(cil.ones, 0 / 0))
    assert.matches("randn: size 2 is 1.5", err(cil.randn, 2, 1.5))
    assert.matches("reshape: size 1 is 2.5", err(function() return cil.ones(6):reshape(2.5, 2) end))
  end)
  it("whole-number floats and tables still give the shape", function()
    assert.are.same({3, 2}, cil.zeros(3.0, 2):shape())
    assert.are.same({2, 3}, cil.ones{2, 3.0}:shape())
    assert.are.same({}, cil.zeros():shape())
    assert.are.same({4}, cil.full({4}, 1):shape())
  end)
end)

describe("NaN, inf and huge values used as indices or bounds", function()
  it("index_select and gather refuse them by name", function()
    local x = cil.ones(3, 2)
    for _, v in ipairs{0 / 0, 1 / 0, -1 / 0, 1e30, 2 ^ 63, -2 ^ 63} do
      assert.matches("index_select: index .* out of range", err(x.index_select, x, 1, cil.tensor{v}))
      assert.matches("gather: index .* out of range", err(x.gather, x, 1, cil.tensor{{v, 1}}))
    end
    assert.matches("index_select: index NaN out of range %(valid 1..3%)", err(x.index_select, x, 1, cil.tensor{0 / 0}))
    assert.matches("index 1.5 is not a whole number", err(x.index_select, x, 1, cil.tensor{1.5}))
  end)
  it("cil.data.take names the bad index, not a wrapped row", function()
    local t = cil.persistent(3, 2)
    for _, v in ipairs{0 / 0, 1 / 0, -1 / 0} do
      local e = err(cil.data.take, t, cil.tensor{v})
      assert.matches("take: index %-?[infa]+ %(entry 1%) is not a row number", e:gsub("NaN", "nan"))
      assert.is_nil(e:find("9223372036854775808"))
    end
    assert.matches("not a row number", err(cil.data.take, t, {math.mininteger}))
    assert.matches("row 0 out of range", err(cil.data.take, t, {0}))
  end)
  it("randint bounds at the integer limits are errors", function()
    assert.matches("randint: bounds .* must lie within %-2%^24..2%^24", err(cil.randint, 1, math.maxinteger, 3))
    assert.matches("randint: bounds", err(cil.randint, math.mininteger, 0, 3))
    assert.matches("randint: bounds", err(cil.randint, math.mininteger, math.maxinteger, 3))
    local r = cil.randint(cil.rng(1), -2, 2, 50)
    assert.is_true(r:min():item() >= -2 and r:max():item() <= 2)
  end)
  it("rows and narrow with extreme integers are range errors", function()
    local x = cil.ones(3, 2)
    assert.matches("rows: .* out of range 1..3", err(x.rows, x, math.mininteger, math.maxinteger))
    assert.matches("rows: .* out of range 1..3", err(x.rows, x, math.maxinteger))
    assert.matches("narrow: rows 2..9223372036854775808 out of range 1..3", err(x.narrow, x, 1, 2, math.maxinteger))
    local b = cil.data.buffer(4, 2, 1)
    b:add(cil.ones(3, 2), cil.ones(3, 1), cil.ones(3), cil.ones(3, 2), cil.zeros(3))
    assert.matches("first row %-9223372036854775808 out of range 1..4", err(b.rows, b, math.mininteger))
    assert.matches("run past the 3 stored rows", err(b.rows, b, 2, math.maxinteger))
    assert.matches("run past", err(b.rows, b, 1, -1))
    assert.are.equal(2, b:rows(2, 2).obs:shape()[1])
  end)
  it("NaN through sigmoid and silu (scalar and vector paths) is NaN", function()
    local x = cil.full({37}, 0.5)
    x[4], x[21], x[37] = 0 / 0, 0 / 0, 0 / 0
    for _, op in ipairs{"sigmoid", "silu"} do
      local y = x[op](x)
      assert.is_true(y[4] ~= y[4] and y[21] ~= y[21] and y[37] ~= y[37], op)
      assert.is_true(y[1] == y[1], op)
    end
  end)
end)

describe("norm backward", function()
  it("is 0 on an all-zero row (as PyTorch), x/|x| elsewhere", function()
    local z = cil.param(cil.tensor{{0, 0}, {3, 4}})
    z:norm(2):sum():backward()
    assert.are.same({0, 0}, z.grad[1]:totable()) -- NaN before
    assert.is_true(math.abs(z.grad[2][1] - 0.6) < 1e-6 and math.abs(z.grad[2][2] - 0.8) < 1e-6)
    local a = cil.param(cil.zeros(2, 3))
    a:norm():backward()
    assert.are.equal(0, a.grad:abs():sum():item())
  end)
  it("its gradient of the gradient is finite at zero", function()
    local x = cil.param(cil.tensor{{0, 0}, {3, 4}})
    local g = cil.grad(x:norm(2):sum(), {x}, {create_graph = true})[1]
    local gg = cil.grad((g * g):sum() + g:sum(), {x})[1]
    assert.is_true(gg:abs():sum():item() < 1e30)
    assert.is_true(math.abs(gg[2][1] - (0.2 - 3 * 7 / 125)) < 1e-5)
    cil.reset()
  end)
end)

describe("metatables: userdata are checked by tag, not by trust", function()
  it("an env given the tensor metatable is not read as a tensor", function()
    local out, ok = child([[
      local env = cil.env.make("hopper")
      debug.setmetatable(env, getmetatable(cil.ones(1)))
      print(pcall(function() return env:numel() end))
      print(pcall(function() return cil.sum(env) end))
      print(pcall(tostring, env))
      print(cil.is_tensor(env))]])
    assert.is_true(ok, out)
    assert.matches("false\t.*tensor __index: a tensor expected, got userdata", out)
    assert.matches("false\t.*bad argument #1: tensor expected", out)
    assert.matches("\nfalse\n$", out)
  end)
  it("a tensor given the generator, env or Adam metatable is refused by those methods", function()
    local out, ok = child([[
      local gm = getmetatable(cil.rng(1))
      local t = cil.ones(2)
      debug.setmetatable(t, gm)
      print(pcall(function() return t:random() end))
      print(pcall(cil.randn, t, 3))
      local e = cil.ones(3)
      debug.setmetatable(e, getmetatable(cil.env.make("hopper")))
      print(pcall(function() return e:reset() end))
      local p = cil.param(cil.ones(2))
      local a = cil.ones(4)
      debug.setmetatable(a, getmetatable(cil.optim.Adam({p}, {lr = 1e-3})))
      print(pcall(function() return a:step() end))
      local f = io.tmpfile()
      debug.setmetatable(f, getmetatable(cil.ones(1)))
      print(pcall(function() return f + 1 end))
      print("survived")]])
    assert.is_true(ok, out)
    assert.matches("false\t.*generator expected", out)
    assert.matches("false\t.*env expected", out)
    assert.matches("false\t.*Adam optimizer expected", out)
    assert.matches("survived", out)
  end)
  it("replacing the tensor metatable's method table is a clear error", function()
    local out, ok = child([[
      local x = cil.ones(2)
      local mt = getmetatable(x)
      for _, bad in ipairs{false, 42, "str"} do
        mt.methods = bad
        print(pcall(function() return x:sum() end))
      end
      mt.methods = nil
      print(pcall(function() return x:sum() end))
      print(pcall(mt.__index, 5, "sum"))]])
    assert.is_true(ok, out)
    assert.matches("false\t.*tensor metatable: field 'methods' is a boolean", out)
    assert.matches("false\t.*field 'methods' is a number", out)
    assert.matches("false\t.*field 'methods' is a nil", out)
    assert.matches("false\t.*tensor __index: a tensor expected, got number", out)
  end)
  it("waits and timed loops refuse durations out of range (the fuzz spec skips them: they sleep)", function()
    for _, v in ipairs({1e300, -1, 0 / 0, 1 / 0, 86401}) do
      local ok, err = pcall(cil.sleep, v)
      assert.is_false(ok)
      assert.matches("seconds must be in %[0, 86400%]", err)
    end
    assert.is_true(pcall(cil.sleep, 0))
    for _, v in ipairs({1e300, 0, -1, 0 / 0, 61}) do
      local ok, err = pcall(cil.sys.peak_gflops, "fma", v)
      assert.is_false(ok)
      assert.matches("seconds must be in %(0, 60%]", err)
    end
  end)
end)
