-- docs/api.md and docs/new-algorithm.md cannot drift silently: every `cil.x.y(` they name is a function
-- of the module, every `recv:method(` a method of an instance of the type the receiver's name stands for
-- (docs/api.md, "Conventions"), and every code block the guide says comes from a file is in that file.
local cil = require "cleanil"
local ROOT = CLEANIL_LUA_DIR .. "/.."

local function read(path) local f = assert(io.open(path)); local s = f:read("a"); f:close(); return s end

-- one instance of each documented receiver type
local function instances()
  local rng = cil.rng(1)
  local x = cil.randn(rng, 2, 3):persist()
  local actor = cil.TanhNormalActor(3, 2, {8}, {rng = rng})
  local pi = actor(x)
  local cfg = {env = "hopper", seed = 0, epochs = 1, steps_per_epoch = 1, update_after = 1, max_episode_steps = 10,
    buffer_size = 10, eval_episodes = 1, checkpoint_every = 1, batch_size = 1, num_expert_trajs = 1,
    train_ratio = 0.5, expert = "", expert_rule = "first"}
  local tmp = os.tmpname(); os.remove(tmp)
  local run = cil.run.start("api_doc", cfg, {out = tmp})
  local inst = {
    t = x, x = x, w = cil.param(cil.randn(rng, 3, 1)), loss = x:sum(),
    m = cil.nn.MLP(3, {4}, 1, {rng = rng}), actor = actor, q = cil.nn.DoubleQ(3, {4}, {rng = rng}),
    reward = cil.RewardModel(3, 2, {use_done = true, max_reward = 1, hidden = {4}, rng = rng}),
    pi = pi, nd = pi.base, opt = cil.optim.Adam(actor:parameters(), {lr = 1e-3}), rng = rng,
    env = cil.env.make("hopper"), buf = cil.ReplayBuffer(4, 3, 2), run = run,
    loop = cil.online.Loop(run, cfg, rng), off = cil.offline.Loop(run, cfg, rng),
    sac = cil.SAC(3, 2, {hidden = {4}}, rng), tb = run.tb,
  }
  return inst, function() run.tb:close(); os.execute("rm -rf '" .. tmp .. "'") end
end

-- the names a text uses that do not exist: a list of strings
local function missing(text, inst, functions_only)
  local bad, seen = {}, {}
  for path in text:gmatch("cil%.([%w_%.]+)%(") do
    if not seen["cil." .. path] then
      seen["cil." .. path] = true
      local v = cil
      for part in path:gmatch("[^%.]+") do v = type(v) == "table" and v[part] or nil end
      local callable = type(v) == "function" or (type(v) == "table" and getmetatable(v) and getmetatable(v).__call)
      if not callable then bad[#bad + 1] = "cil." .. path end
    end
  end
  for recv, name in (functions_only and "" or text):gmatch("([%a_][%w_]*):([%a_][%w_]*)%(") do
    local key = recv .. ":" .. name
    if not seen[key] then
      seen[key] = true
      local obj = inst[recv]
      if obj == nil then bad[#bad + 1] = key .. " (unknown receiver)"
      elseif type(obj[name]) ~= "function" then bad[#bad + 1] = key end
    end
  end
  table.sort(bad)
  return bad
end

describe("docs/api.md", function()
  local inst, cleanup = instances()
  teardown(cleanup)
  local api = read(ROOT .. "/docs/api.md")

  it("names only functions and methods that exist", function()
    local bad = missing(api, inst)
    assert.are.same({}, bad, "names in docs/api.md that do not exist: " .. table.concat(bad, ", "))
  end)
  it("names a good part of the API (the check is not vacuous)", function()
    local n = 0
    for _ in api:gmatch("cil%.[%w_%.]+%(") do n = n + 1 end
    for _ in api:gmatch("[%a_][%w_]*:[%a_][%w_]*%(") do n = n + 1 end
    assert.is_true(n > 250, "only " .. n .. " calls named")
    -- the scripts' prologue, the loops and the arena rule are all there
    for _, must in ipairs({"cil.run.begin(", "cil.online.Loop(", "cil.offline.Loop(", "cil.reset()", "persist()",
      "run:load_checkpoint(", "loss:backward(", "cil.grad(", "cil.no_grad(", "freed by cil.reset()"}) do
      assert.is_truthy(api:find(must, 1, true), must)
    end
  end)
  it("the check catches a function, a method and a receiver that do not exist", function()
    local bad = missing("`cil.data.no_such_loader(x)`, `t:no_such_op()`, `cil.zeros(2)`, `zz:sum()`", inst)
    assert.are.same({"cil.data.no_such_loader", "t:no_such_op", "zz:sum (unknown receiver)"}, bad)
  end)
  it("the stale-handle error it quotes is the engine's", function()
    local x = cil.randn(2)
    cil.reset()
    local ok, err = pcall(function() return x + 1 end)
    assert.is_false(ok)
    local quoted = api:match("```\n(bad argument[^\n]+)\n```")
    assert.is_truthy(quoted)
    assert.is_truthy(tostring(err):find(quoted, 1, true), tostring(err))
  end)
end)

describe("docs/new-algorithm.md", function()
  local inst, cleanup = instances()
  teardown(cleanup)
  local guide = read(ROOT .. "/docs/new-algorithm.md")

  it("names only functions and methods that exist", function()
    local code = {}
    for block in guide:gmatch("```lua\n(.-)```") do code[#code + 1] = block end
    local bad = missing((guide:gsub("```lua\n.-```", "")), inst)          -- prose: documented receivers
    for _, b in ipairs(missing(table.concat(code, "\n"), inst, true)) do bad[#bad + 1] = b end  -- code: cil.*
    assert.are.same({}, bad, "names in the guide that do not exist: " .. table.concat(bad, ", "))
    assert.is_true(#code >= 5)
  end)
  it("every code block marked as taken from a file is in that file, verbatim", function()
    local n = 0
    for file, block in guide:gmatch("<!%-%- from ([%w_/%.]+) %-%->\n```lua\n(.-)```") do
      local src = read(ROOT .. "/" .. file)
      assert.is_truthy(src:find(block, 1, true), "a block of the guide is not in " .. file .. ":\n" .. block)
      n = n + 1
    end
    assert.is_true(n >= 5, "only " .. n .. " blocks checked")
  end)
end)

describe("help() in the REPL", function()
  it("points to both documents and lists every algorithm script with a line of its own", function()
    local lines, saved = {}, print
    _G.print = function(...) lines[#lines + 1] = table.concat({...}, "\t") end
    local ok, err = pcall(cil.help)
    _G.print = saved
    assert.is_true(ok, tostring(err))
    local text = table.concat(lines, "\n")
    assert.is_truthy(text:find("docs/api.md", 1, true))
    assert.is_truthy(text:find("docs/new-algorithm.md", 1, true))
    local n = 0
    for _, name in ipairs(cil.sys.listdir(CLEANIL_LUA_DIR .. "/algorithms")) do
      local algo = name:match("^(.+)%.lua$")
      if algo then
        n = n + 1
        assert.is_truthy(text:find("\n  " .. algo .. " +%S"), "help() does not list " .. algo)
      end
    end
    assert.is_true(n >= 17)
  end)
end)
