-- cil.env: the Lua API of the MuJoCo environments (fidelity details are in tests/c/test_env.c).
local cil = require "cleanil"

local function flat(t) -- tensor -> flat Lua array
  local out, tab = {}, t:totable()
  local function walk(x)
    if type(x) == "table" then for _, v in ipairs(x) do walk(v) end else out[#out + 1] = x end
  end
  walk(tab)
  return out
end
local function same(a, b)
  local x, y = flat(a), flat(b)
  if #x ~= #y then return false end
  for i = 1, #x do if x[i] ~= y[i] then return false end end
  return true
end
local function errmsg(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok)
  return tostring(e)
end

describe("cil.env.make", function()
  it("makes the three tasks with their sizes and spaces", function()
    local dims = { hopper = { 11, 3 }, walker2d = { 17, 6 }, halfcheetah = { 17, 6 } }
    for name, d in pairs(dims) do
      local env = cil.env.make(name)
      assert.are.equal(d[1], env.obs_dim)
      assert.are.equal(d[2], env.act_dim)
      assert.are.equal(1, env.num_envs)
      assert.are.equal(name, env.name)
      assert.are.equal(1000, env.max_episode_steps)
      assert.are.same({ d[2] }, env.action_low:shape())
      for _, v in ipairs(flat(env.action_low)) do assert.are.equal(-1, v) end
      for _, v in ipairs(flat(env.action_high)) do assert.are.equal(1, v) end
      assert.is_truthy(tostring(env):find("Env%("))
      env:close()
    end
  end)

  it("accepts Gymnasium ids and options", function()
    local env = cil.env.make("Hopper-v4", { num_envs = 3, seed = 5, threads = 2, autoreset = true })
    assert.are.equal("hopper", env.name)
    assert.are.equal("Hopper-v4", env.id)
    assert.are.equal(3, env.num_envs)
    assert.are.equal(2, env.num_threads)
    assert.is_true(env.autoreset)
    assert.are.equal(0.008, env.dt)
    assert.are.equal("halfcheetah", cil.env.make("HalfCheetah-v4").name)
    assert.are.equal("walker2d", cil.env.make("Walker2d-v4").name)
  end)

  it("rejects bad names and options with clear errors", function()
    assert.is_truthy(errmsg(cil.env.make, "ant"):find("unknown task 'ant'"))
    assert.is_truthy(errmsg(cil.env.make, "hopper", { num_env = 2 }):find("unknown option 'num_env'"))
    assert.is_truthy(errmsg(cil.env.make, "hopper", { num_envs = 0 }):find("num_envs"))
    assert.is_truthy(errmsg(cil.env.make, "hopper", { threads = 1.5 }):find("threads"))
    assert.is_truthy(errmsg(cil.env.make, "hopper", { model_dir = "/nonexistent" }):find("cannot load"))
  end)
end)

describe("env:reset / env:step", function()
  it("returns tensors of the right shapes and the info values", function()
    local env = cil.env.make("halfcheetah", { num_envs = 4, seed = 1 })
    local obs = env:reset()
    assert.are.same({ 4, 17 }, obs:shape())
    local o, r, term, trunc, info = env:step(cil.zeros(4, 6))
    assert.are.same({ 4, 17 }, o:shape())
    assert.are.same({ 4 }, r:shape())
    assert.are.same({ 4 }, term:shape())
    assert.are.same({ 4 }, trunc:shape())
    for _, k in ipairs({ "x_position", "x_velocity", "reward_run", "reward_ctrl" }) do
      assert.are.same({ 4 }, info[k]:shape())
    end
    assert.is_nil(info.final_observation) -- only in autoreset mode
    -- reward = reward_run + reward_ctrl; with zero action the ctrl part is 0
    for i, v in ipairs(flat(r)) do assert.is_true(math.abs(v - flat(info.reward_run)[i]) < 1e-6) end
    -- outputs survive cil.reset() (they are persistent)
    cil.reset()
    assert.are.equal(17, #flat(o[1]))
  end)

  it("takes [act_dim] actions when num_envs is 1", function()
    local env = cil.env.make("hopper", { seed = 0 })
    local o = env:step(cil.zeros(3))
    assert.are.same({ 1, 11 }, o:shape())
  end)

  it("raises clear errors on bad actions", function()
    local env = cil.env.make("walker2d", { num_envs = 2 })
    local e = errmsg(env.step, env, cil.zeros(2, 3))
    assert.is_truthy(e:find("walker2d"))
    assert.is_truthy(e:find("[2, 3]", 1, true))
    assert.is_truthy(e:find("[2, 6]", 1, true))
    assert.is_truthy(errmsg(env.step, env, cil.zeros(12)):find("expected [2, 6]", 1, true))
    assert.is_truthy(errmsg(env.step, env, { 0, 0, 0 }):find("must be a tensor"))
    local bad = cil.zeros(2, 6):clone()
    local a = cil.tensor({ { 0, 0, 0, 0, 0, 0 }, { 0, 0, 0 / 0, 0, 0, 0 } })
    assert.is_truthy(errmsg(env.step, env, a):find("action [2, 3]", 1, true))
    local inf = cil.tensor({ { 0, 0, 0, 0, 0, 1 / 0 }, { 0, 0, 0, 0, 0, 0 } })
    assert.is_truthy(errmsg(env.step, env, inf):find("inf"))
    assert.is_truthy(errmsg(env.reset_one, env, 3):find("out of range 1..2", 1, true))
    -- the env still works after the errors
    local o = env:step(bad)
    assert.are.same({ 2, 17 }, o:shape())
  end)

  it("passes actions outside [-1, 1] unclipped: same motion, cost on the raw action", function()
    local e1 = cil.env.make("hopper", { seed = 3 })
    local e2 = cil.env.make("hopper", { seed = 3 })
    local o1, r1 = e1:step(cil.tensor({ 2, -3, 0.5 }))
    local o2, r2 = e2:step(cil.tensor({ 1, -1, 0.5 }))
    assert.is_true(same(o1, o2))
    assert.is_true(math.abs((r1[1] - r2[1]) - (-1e-3 * (4 + 9 - 1 - 1))) < 1e-5)
  end)
end)

describe("fidelity through Lua", function()
  it("reproduces the Hopper zero-action check value (141 steps, return 133.890021)", function()
    local env = cil.env.make("hopper")
    env:set_state(1, { 0, 1.25, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0 })
    local ret, steps, term, trunc = 0, 0, false, false
    local a = cil.zeros(3)
    while not term and not trunc do
      local _, r, te, tr = env:step(a)
      ret, steps = ret + r[1], steps + 1
      term, trunc = te[1] == 1, tr[1] == 1
    end
    assert.are.equal(141, steps)
    assert.is_true(term)
    assert.is_true(math.abs(ret - 133.890021) < 1e-4 * 133.89)
  end)

  it("truncates HalfCheetah at step 1000 and autoresets with the final observation", function()
    local env = cil.env.make("halfcheetah", { num_envs = 2, seed = 4, autoreset = true })
    local a = cil.zeros(2, 6)
    for s = 1, 1000 do
      local o, _, term, trunc, info = env:step(a)
      assert.are.equal(0, term[1])
      if s < 1000 then
        assert.are.equal(0, trunc[1])
        assert.is_true(same(o, info.final_observation)) -- rows that did not end: the same obs
      else
        assert.are.equal(1, trunc[1])
        assert.are.equal(1, trunc[2])
        assert.is_false(same(o[1], info.final_observation[1]))
        assert.are.equal(0, env:elapsed(1))
      end
    end
  end)

  it("set_state / qpos / qvel / state round trip", function()
    local env = cil.env.make("walker2d", { num_envs = 2 })
    local q = { 0.5, 1.1, 0.1, -0.2, -0.3, 0.1, -0.4, -0.5, 0.2 }
    local v = { 1, 0, 0, 0, 0, 0, 0, 0, -1 }
    local obs = env:set_state(2, q, v)
    assert.are.same({ 17 }, obs:shape())
    assert.is_true(math.abs(obs[1] - 1.1) < 1e-6)
    assert.is_true(math.abs(obs[17] + 1) < 1e-6)
    local qp, qv = env:state(2)
    for i = 1, 9 do assert.are.equal(q[i], qp[i]); assert.are.equal(v[i], qv[i]) end
    assert.is_true(math.abs(env:qpos(2)[3] - 0.1) < 1e-7)
    assert.are.equal(-1, env:qvel(2)[9])
    env:set_state(1, env:qpos(2), env:qvel(2)) -- tensors work too
    assert.is_true(math.abs(env:qpos(1)[2] - 1.1) < 1e-6)
    assert.is_truthy(errmsg(env.set_state, env, 1, { 1, 2 }, v):find("expected 9"))
    local nanq = { 0, 0 / 0, 0, 0, 0, 0, 0, 0, 0 }
    assert.is_truthy(errmsg(env.set_state, env, 1, nanq, v):find("qpos[2] is not finite", 1, true))
    assert.is_truthy(errmsg(env.set_state, env, 1, q, "x"):find("must be a tensor or a table"))
  end)
end)

describe("seeding and vectorization", function()
  local function rollout(env, steps)
    local rng = cil.rng(17)
    local rows = {}
    for _ = 1, steps do
      local a = rng:uniform(-1, 1, env.num_envs, env.act_dim)
      local o, r = env:step(a)
      rows[#rows + 1] = { o, r }
    end
    return rows
  end

  it("same seed gives the same trajectory, another seed another one", function()
    local a = rollout(cil.env.make("walker2d", { seed = 8, autoreset = true }), 100)
    local b = rollout(cil.env.make("walker2d", { seed = 8, autoreset = true }), 100)
    local c = rollout(cil.env.make("walker2d", { seed = 9, autoreset = true }), 100)
    for i = 1, 100 do
      assert.is_true(same(a[i][1], b[i][1]))
      assert.is_true(same(a[i][2], b[i][2]))
    end
    assert.is_false(same(a[1][1], c[1][1]))
  end)

  it("reset(seed) restarts the streams; reset noise stays within its bounds", function()
    local env = cil.env.make("hopper", { num_envs = 8 })
    local o1 = env:reset(123)
    local o2 = env:reset(123)
    assert.is_true(same(o1, o2))
    local o3 = env:reset()
    assert.is_false(same(o1, o3))
    for i = 1, 8 do
      local q, v = env:state(i)
      assert.is_true(math.abs(q[2] - 1.25) <= 0.005)
      for j = 1, 6 do assert.is_true(math.abs(v[j]) <= 0.005) end
    end
    local r = env:reset_one(3, 123 + 2) -- env 3 of reset(123) uses seed 125
    assert.is_true(same(r, o1[3]))
  end)

  it("vectorized with 2 threads equals single envs", function()
    local vec = rollout(cil.env.make("hopper", { num_envs = 3, seed = 30, threads = 2, autoreset = true }), 50)
    local vec1 = rollout(cil.env.make("hopper", { num_envs = 3, seed = 30, threads = 1, autoreset = true }), 50)
    for i = 1, 50 do assert.is_true(same(vec[i][1], vec1[i][1])) end
    -- single env 2 seeded 31 gets the same actions only if we feed it row 2 of the same draws
    local env = cil.env.make("hopper", { seed = 31, autoreset = true })
    local rng = cil.rng(17)
    for i = 1, 50 do
      local a = rng:uniform(-1, 1, 3, 3)
      local o = env:step(a[2])
      assert.is_true(same(o[1], vec[i][1][2]))
    end
  end)
end)

describe("cil.env.termination", function()
  it("applies the alive rules on [.., obs_dim] batches", function()
    local x = cil.zeros(3, 11):clone()
    local t = x:totable()
    t[1][1] = 1.0; t[2][1] = 0.7; t[3][1] = 1.0; t[3][2] = 0.25
    local done = cil.env.termination("Hopper-v4", cil.tensor(t))
    assert.are.same({ 3, 1 }, done:shape())
    assert.are.same({ 0, 1, 1 }, flat(done))
    local batch = cil.env.termination("halfcheetah", cil.zeros(2, 5, 17))
    assert.are.same({ 2, 5, 1 }, batch:shape())
  end)

  it("de-normalizes with mean/std; the walker sqrt(std) quirk is opt-in", function()
    local mean = cil.zeros(17):clone()
    local sd = cil.ones(17):clone()
    local mt, st = mean:totable(), sd:totable()
    mt[1] = 1.2; st[1] = 0.25
    local m, s = cil.tensor(mt), cil.tensor(st)
    local x = cil.zeros(2, 17):totable()
    x[1][1] = -1.0 -- o = 0.95 alive; quirk: 0.7 done
    x[2][1] = -1.8 -- o = 0.75 done
    local xt = cil.tensor(x)
    assert.are.same({ 0, 1 }, flat(cil.env.termination("walker2d", xt, { mean = m, std = s })))
    assert.are.same({ 1, 1 }, flat(cil.env.termination("walker2d", xt, { mean = m, std = s, sqrt_std_quirk = true })))
  end)

  it("rejects wrong shapes and names", function()
    assert.is_truthy(errmsg(cil.env.termination, "hopper", cil.zeros(4, 17)):find("expected [..., 11]", 1, true))
    assert.is_truthy(errmsg(cil.env.termination, "ant", cil.zeros(4, 17)):find("no termination rule"))
    assert.is_truthy(errmsg(cil.env.termination, "hopper", cil.zeros(4, 11), { mean = cil.zeros(3) }):find("mean"))
  end)
end)

describe("cil.env.normalized_score", function()
  it("uses D4RL's reference returns on a 0-100 scale", function()
    assert.is_true(math.abs(cil.env.normalized_score("hopper", -20.272305)) < 1e-9)
    assert.is_true(math.abs(cil.env.normalized_score("hopper", 3234.3) - 100) < 1e-9)
    assert.is_true(math.abs(cil.env.normalized_score("HalfCheetah-v4", 12135.0) - 100) < 1e-9)
    assert.is_true(math.abs(cil.env.normalized_score("walker2d-medium-v2", 1.629008)) < 1e-9)
    local s = cil.env.normalized_score("hopper", cil.tensor({ -20.272305, 3234.3 }))
    assert.is_true(math.abs(s[2] - 100) < 1e-3)
  end)
end)

describe("closed env", function()
  it("raises instead of crashing", function()
    local env = cil.env.make("hopper")
    env:close()
    assert.is_truthy(errmsg(env.step, env, cil.zeros(3)):find("closed"))
    env:close() -- twice is fine
  end)
end)
