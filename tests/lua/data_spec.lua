-- Data layer from Lua: D4RL/Minari loading (fixtures written by h5py), saving, trajectories,
-- splits, statistics, replay buffers, checkpoints (integrity, atomic writes, kill and resume).
local cil = require "cleanil"
if not cil.data.to_buffer then require("cleanil.data")(cil) end
local data = cil.data

local here = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local fixtures = here .. "/tests/fixtures/"
local function fx(name) return fixtures .. name end

local function sh(cmd)
  local p = io.popen(cmd)
  local s = p:read("a")
  p:close()
  return s
end
local exe = sh("readlink /proc/$PPID/exe"):gsub("%s+$", "") -- the cleanil running this spec
local tmpdir = sh("mktemp -d /tmp/cil_data_spec_XXXXXX"):gsub("%s+$", "")
local function tmp(name) return tmpdir .. "/" .. name end

local function rows(t) -- tensor -> nested Lua table
  return t:totable()
end
local function same_bits(a, b)
  local ta, tb = a:reshape(-1):totable(), b:reshape(-1):totable()
  if #ta ~= #tb then return false end
  for i = 1, #ta do
    if ta[i] ~= tb[i] and not (ta[i] ~= ta[i] and tb[i] ~= tb[i]) then return false end
  end
  return true
end
local function errmsg(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err)
end

describe("load_d4rl", function()
  local d = data.load_d4rl(fx("d4rl_small.hdf5"))

  it("reads the core keys with their shapes", function()
    assert.same({19, 3}, d.observations:shape())
    assert.same({19, 2}, d.actions:shape())
    assert.same({19}, d.rewards:shape())
    assert.same({19}, d.terminals:shape())
    assert.same({19}, d.timeouts:shape())
    assert.same({19, 3}, d.next_observations:shape())
    assert.is_nil(d.next_known)
    assert.is_true(d.observations:is_persistent())
  end)

  it("reads the values written by h5py", function()
    assert.same({4, 12, -4}, rows(d.observations)[5])
    assert.near(0.4, d.actions[5][1], 1e-6)
    assert.near(0.25 * 4 - 1, d.rewards[5], 1e-7)
    local flags = {}
    for i = 1, 19 do flags[#flags + 1] = (d.terminals[i] == 1 and "T" or "") .. (d.timeouts[i] == 1 and "O" or "") end
    assert.same({"", "", "", "T", "", "", "", "O", "", "", "T", "", "", "O", "", "O", "", "", ""}, flags)
  end)

  it("keeps the file's true next observation on episode ends", function()
    assert.same({3.5, 11.5, -3}, rows(d.next_observations)[4])  -- terminal row: not the next reset
    assert.same({7.5, 13.5, -7}, rows(d.next_observations)[8])  -- timeout row
    assert.same({2, 11, -2}, rows(d.next_observations)[2])
  end)

  it("reads infos (float64 qpos) and metadata", function()
    assert.same({19, 4}, d.infos.qpos:shape())
    assert.near(4 + 1 / 3, d.infos.qpos[5][1], 1e-6)
    assert.near(16, d.infos.qpos[5][4], 1e-6)
    assert.same({19}, d.infos.action_log_probs:shape())
    assert.equal("SAC", d.metadata.algorithm)
    assert.equal(42, d.metadata.iteration)
    assert.equal("relu", d.metadata.policy.nonlinearity)
    assert.same({0, 1, 2, 3}, rows(d.metadata.policy.fc0.bias))
  end)

  it("builds next_observations inside episodes when the file has none", function()
    local e = data.load_d4rl(fx("d4rl_nonext.hdf5"))
    assert.same({19}, e.rewards:shape()) -- [N, 1] squeezed
    assert.same(rows(d.observations), rows(e.observations)) -- float64 -> float32
    assert.same(rows(d.terminals), rows(e.terminals))      -- uint8 flags
    assert.same(rows(d.timeouts), rows(e.timeouts))        -- int32 flags
    local known = rows(e.next_known)
    for i = 1, 19 do
      local ends = d.terminals[i] == 1 or d.timeouts[i] == 1 or i == 19
      assert.equal(ends and 0 or 1, known[i])
      if not ends then assert.same(rows(e.observations)[i + 1], rows(e.next_observations)[i]) end
    end
    local k = data.drop_unknown_next(e)
    assert.equal(19 - 6, data.num_rows(k))
  end)

  it("gives clear errors naming the file and the problem", function()
    assert.matches("nope%.hdf5: No such file", errmsg(data.load_d4rl, fx("nope.hdf5")))
    assert.matches("missing_key%.hdf5: no key 'rewards'", errmsg(data.load_d4rl, fx("missing_key.hdf5")))
    assert.matches("bad_lengths%.hdf5: 'actions' has 18 rows but 'observations' has 19",
      errmsg(data.load_d4rl, fx("bad_lengths.hdf5")))
    assert.matches("bad_rank%.hdf5: 'observations' has 1 dims", errmsg(data.load_d4rl, fx("bad_rank.hdf5")))
    assert.matches("bad_dtype%.hdf5: 'actions' is not numeric", errmsg(data.load_d4rl, fx("bad_dtype.hdf5")))
    assert.matches("bad_nan%.hdf5: 'observations' has a non%-finite value %(nan%) at row 3, column 2",
      errmsg(data.load_d4rl, fx("bad_nan.hdf5")))
    local ok = data.load_d4rl(fx("bad_nan.hdf5"), {check_finite = false})
    assert.is_true(ok.observations[3][2] ~= ok.observations[3][2])
    local junk = tmp("junk.hdf5")
    local f = io.open(junk, "w"); f:write("this is not hdf5"); f:close()
    assert.matches("junk%.hdf5: not an HDF5 file", errmsg(data.load_d4rl, junk))
  end)
end)

describe("load_minari", function()
  local m = data.load_minari(fx("minari_small.hdf5"))
  it("flattens episodes in numeric order with true next observations", function()
    assert.same({11, 3}, m.observations:shape())
    local o, n = rows(m.observations), rows(m.next_observations)
    assert.same({0, 1, 2}, o[1])
    assert.same({3, 4, 5}, n[1])
    assert.same({9, 10, 11}, n[3])      -- episode_0's final observation (row T of T+1)
    assert.same({100, 101, 102}, o[4])  -- episode_1 follows episode_0
    assert.same({200, 201, 202}, o[8])  -- then episode_2, not episode_10
    assert.same({1000, 1001, 1002}, o[10])
    assert.same({1006, 1007, 1008}, n[11])
  end)
  it("keeps episode boundaries as flags", function()
    assert.same({0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, rows(m.terminals))
    assert.same({0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0}, rows(m.timeouts)) -- episode_2 unflagged -> timeout
    assert.near(10, m.rewards[11], 0)
    local t = data.trajectories(m)
    assert.equal(4, #t)
    for _, e in ipairs(t) do assert.is_true(e.complete) end
  end)
  it("refuses a D4RL file", function()
    assert.matches("no 'episode_<k>' groups", errmsg(data.load_minari, fx("d4rl_small.hdf5")))
  end)
end)

describe("trajectories and expert selection", function()
  local d = data.load_d4rl(fx("d4rl_small.hdf5"))
  it("splits at terminals and timeouts, with an incomplete tail", function()
    local t = data.trajectories(d)
    assert.equal(6, #t)
    local starts, lens = {}, {}
    for i, e in ipairs(t) do starts[i], lens[i] = e.start, e.length end
    assert.same({1, 5, 9, 12, 15, 17}, starts)
    assert.same({4, 4, 3, 3, 2, 3}, lens)
    assert.is_true(t[1].terminal and not t[1].timeout)
    assert.is_true(t[2].timeout and not t[2].terminal)
    assert.is_false(t[6].complete)
    assert.near(-1 - 0.75 - 0.5 - 0.25, t[1].ret, 1e-6)
    assert.equal(5, #data.episode_returns(d))
  end)
  it("reference rule skips the episode after a terminated one", function()
    local e = data.expert_trajectories(d, 3)
    assert.equal(4 + 3 + 2, data.num_rows(e))
    local first = {}
    for _, r in ipairs(rows(e.observations)) do first[#first + 1] = r[1] end
    assert.same({0, 1, 2, 3, 8, 9, 10, 14, 15}, first)
    assert.same({9, 4}, e.infos.qpos:shape()) -- infos follow the rows
    assert.equal("SAC", e.metadata.algorithm)
    assert.matches("only 3 episodes pass rule 'reference', 4 requested", errmsg(data.expert_trajectories, d, 4))
    assert.equal(3, data.expert_trajectories(d, 4, {allow_fewer = true}).episodes)
  end)
  it("first and not_terminated rules", function()
    assert.equal(8, data.num_rows(data.expert_trajectories(d, 2, {rule = "first"})))
    assert.equal(5, data.expert_trajectories(d, 5, {rule = "first"}).episodes)
    local nt = data.expert_trajectories(d, 3, {rule = "not_terminated"})
    assert.equal(4 + 3 + 2, data.num_rows(nt))
    assert.equal(4, nt.observations[1][1])
  end)
  it("load_expert_trajs zeroes rewards like the reference", function()
    local e = data.load_expert_trajs(fx("d4rl_small.hdf5"), 2)
    assert.equal(7, data.num_rows(e))
    for _, r in ipairs(rows(e.rewards)) do assert.equal(0, r) end
  end)
end)

describe("splits, combination, statistics", function()
  local d = data.load_d4rl(fx("d4rl_small.hdf5"))
  it("train_test_split: eval = min(round(N*0.1), 1000), disjoint, seeded", function()
    local tr, ev = data.train_test_split(d, 0.9, cil.rng(3))
    assert.equal(17, data.num_rows(tr))
    assert.equal(2, data.num_rows(ev))
    local seen = {}
    for _, r in ipairs(rows(tr.observations)) do seen[r[1]] = (seen[r[1]] or 0) + 1 end
    for _, r in ipairs(rows(ev.observations)) do seen[r[1]] = (seen[r[1]] or 0) + 1 end
    for i = 0, 18 do assert.equal(1, seen[i]) end
    local tr2 = data.train_test_split(d, 0.9, cil.rng(3))
    assert.same(rows(tr.observations), rows(tr2.observations))
    assert.same({17, 4}, tr.infos.qpos:shape())
    assert.equal(1000, data.eval_size(400000, 0.9))
  end)
  it("combine concatenates shared keys", function()
    local c = data.combine(d, data.load_minari(fx("minari_small.hdf5")))
    assert.equal(30, data.num_rows(c))
    assert.is_nil(c.infos) -- only the D4RL file has infos
    assert.same({1006, 1007, 1008}, rows(c.next_observations)[30])
  end)
  it("obs_stats is the unbiased std, normalize inverts", function()
    local m, s = data.obs_stats(d.observations)
    assert.near(9, m[1], 1e-5)
    local var = 0
    for i = 0, 18 do var = var + (i - 9) ^ 2 end
    assert.near(math.sqrt(var / 18), s[1], 1e-5)
    local m2, s2 = data.obs_stats({d.observations, d.observations}, {eps = 1e-3})
    assert.near(math.sqrt(2 * var / 37) + 1e-3, s2[1], 1e-5)
    local z = data.normalize_dataset(d, m, s)
    assert.near((d.observations[5][2] - m[2]) / s[2], z.observations[5][2], 1e-5)
    assert.is_true(same_bits(d.actions, z.actions))
    local back = data.denormalize(z.observations, m, s)
    for i = 1, 19 do assert.near(d.observations[i][3], back[i][3], 1e-4) end
    assert.matches("need at least 2 rows", errmsg(data.obs_stats, cil.zeros(1, 3)))
  end)
end)

describe("save_d4rl", function()
  it("round trips, infos and metadata included, and h5py reads it", function()
    local d = data.load_d4rl(fx("d4rl_small.hdf5"))
    local p = tmp("saved.hdf5")
    data.save_d4rl(p, d, {compression = 4})
    local e = data.load_d4rl(p)
    for _, k in ipairs{"observations", "actions", "rewards", "terminals", "timeouts", "next_observations"} do
      assert.is_true(same_bits(d[k], e[k]), k)
    end
    assert.is_true(same_bits(d.infos.qpos, e.infos.qpos))
    assert.equal("SAC", e.metadata.algorithm)
    assert.equal(42, e.metadata.iteration)
    assert.equal("relu", e.metadata.policy.nonlinearity)
    local py = ("/usr/bin/python3 -c \"import h5py,sys; f=h5py.File(sys.argv[1],'r'); "
      .. "assert f['terminals'].dtype==bool and f['timeouts'].dtype==bool; "
      .. "assert f['rewards'].shape==(19,) and f['observations'].compression=='gzip'; "
      .. "assert f['terminals'][3] and f['timeouts'][7]; print('ok')\" %s 2>&1"):format(p)
    if io.open("/usr/bin/python3") then assert.equal("ok\n", sh(py)) end
  end)
  it("refuses inconsistent tables", function()
    local bad = {observations = cil.zeros(5, 3), actions = cil.zeros(4, 2), rewards = cil.zeros(5),
                 terminals = cil.zeros(5)}
    assert.matches("'actions' has 4 rows but 'observations' has 5", errmsg(data.save_d4rl, tmp("bad.hdf5"), bad))
    assert.is_nil(io.open(tmp("bad.hdf5")))
  end)
end)

describe("ReplayBuffer", function()
  it("adds single rows and batches, wraps, reports its size", function()
    local b = cil.ReplayBuffer(4, 3, 2)
    assert.equal(0, #b)
    b:add(cil.tensor{1, 2, 3}, cil.tensor{0.5, -0.5}, 1.5, cil.tensor{4, 5, 6}, true)
    assert.equal(1, b:size())
    b:add(cil.ones(4, 3), cil.zeros(4, 2), cil.full({4, 1}, 2), cil.ones(4, 3), cil.zeros(4))
    assert.equal(4, #b)
    assert.equal(4, b:capacity())
    local r = b:rows(1, 4)
    assert.same({1, 1, 1}, rows(r.obs)[1]) -- row 1 overwritten by the 4th of the batch
    assert.same({2}, rows(r.rew)[1])
    assert.equal("ReplayBuffer(4/4 rows, obs 3, act 2)", tostring(b))
  end)
  it("samples arena batches of the right shapes, reproducibly", function()
    local b = cil.ReplayBuffer(100, 3, 2)
    b:add(cil.randn(50, 3), cil.randn(50, 2), cil.randn(50), cil.randn(50, 3), cil.zeros(50))
    local s = b:sample(32, cil.rng(7))
    assert.same({32, 3}, s.obs:shape())
    assert.same({32, 2}, s.act:shape())
    assert.same({32, 1}, s.rew:shape())
    assert.same({32, 3}, s.next_obs:shape())
    assert.same({32, 1}, s.done:shape())
    assert.is_false(s.obs:is_persistent())
    assert.is_true(same_bits(s.obs, b:sample(32, cil.rng(7)).obs))
    local out = {obs = cil.persistent(32, 3), act = cil.persistent(32, 2), rew = cil.persistent(32, 1),
                 next_obs = cil.persistent(32, 3), done = cil.persistent(32, 1)}
    b:sample_into(out, cil.rng(7))
    assert.is_true(same_bits(s.obs, out.obs))
    cil.reset()
  end)
  it("samples every stored row about equally often", function()
    local b = cil.ReplayBuffer(8, 1, 1)
    b:add(cil.arange(0, 12):reshape(12, 1), cil.zeros(12, 1), cil.zeros(12), cil.zeros(12, 1), cil.zeros(12))
    local counts, g, n = {}, cil.rng(11), 40000
    for _ = 1, n / 1000 do
      for _, v in ipairs(rows(b:sample(1000, g).obs)) do counts[v[1]] = (counts[v[1]] or 0) + 1 end
      cil.reset()
    end
    local chi = 0
    for v = 4, 11 do chi = chi + ((counts[v] or 0) - n / 8) ^ 2 / (n / 8) end
    for v = 0, 3 do assert.is_nil(counts[v]) end -- overwritten rows never come back
    assert.is_true(chi < 24.32, "chi-square " .. chi) -- 7 dof, p = 0.001
  end)
  it("mixes two buffers at a ratio", function()
    local a, b = cil.ReplayBuffer(10, 1, 1), cil.ReplayBuffer(10, 1, 1)
    a:add(cil.zeros(10, 1), cil.zeros(10, 1), 0, cil.zeros(10, 1), 0)
    b:add(cil.ones(10, 1), cil.zeros(10, 1), 0, cil.zeros(10, 1), 0)
    local s = data.sample_mixed(a, b, 256, 0.5, cil.rng(1))
    assert.equal(128, s.obs:sum():item())
    assert.equal(0, s.obs:narrow(1, 1, 128):sum():item())
    assert.equal(256 - 12, data.sample_mixed(a, b, 256, 0.05).obs:sum():item()) -- floor(12.8) from a
    cil.reset()
  end)
  it("raises clear errors", function()
    local b = cil.ReplayBuffer(10, 3, 2)
    assert.matches("obs has shape %[4, 2%]; the buffer expects %[N, 3%]",
      errmsg(b.add, b, cil.zeros(4, 2), cil.zeros(4, 2), 0, cil.zeros(4, 3), 0))
    assert.matches("act has 3 rows but obs has 4",
      errmsg(b.add, b, cil.zeros(4, 3), cil.zeros(3, 2), cil.zeros(4), cil.zeros(4, 3), cil.zeros(4)))
    assert.matches("empty", errmsg(b.sample, b, 4))
    assert.matches("capacity must be", errmsg(cil.ReplayBuffer, 0, 3, 2))
  end)
  it("saves and loads, and fills from a dataset", function()
    local d = data.load_d4rl(fx("d4rl_small.hdf5"))
    local b = data.to_buffer(d, 10) -- 19 rows into 10: the last 10 stay
    assert.equal(10, #b)
    b:save(tmp("buf.h5"))
    local c = cil.ReplayBuffer(10, 3, 2):load(tmp("buf.h5"))
    assert.is_true(same_bits(b:rows().obs, c:rows().obs))
    assert.equal(b:pos(), c:pos())
    assert.is_true(same_bits(b:sample(20, cil.rng(5)).next_obs, c:sample(20, cil.rng(5)).next_obs))
    assert.matches("capacity 10 .* into one of capacity 11", errmsg(cil.ReplayBuffer(11, 3, 2).load, cil.ReplayBuffer(11, 3, 2), tmp("buf.h5")))
    cil.reset()
  end)
end)

describe("checkpoint", function()
  local function state()
    local g = cil.rng(5)
    g:random()
    local buf = cil.ReplayBuffer(6, 2, 1)
    buf:add(cil.randn(g, 9, 2), cil.randn(g, 9, 1), cil.randn(g, 9), cil.randn(g, 9, 2), cil.zeros(9))
    return {
      actor = {w = cil.param(cil.randn(g, 4, 3)), b = cil.persistent(4)},
      scalar = cil.param(cil.tensor(2.5)),
      opt = {step = 17, betas = {0.9, 0.999}, ["a/b%#c"] = "odd key"},
      rng = g, buf = buf, flag = false, name = "run-1", blob = "\0\1\2binary\255",
      arena = cil.randn(2, 2), -- arena tensors are stored; they come back persistent
    }
  end

  it("round trips every kind of leaf", function()
    local s = state()
    cil.checkpoint.save(tmp("c1.h5"), s)
    local l = cil.checkpoint.load(tmp("c1.h5"))
    assert.is_true(same_bits(s.actor.w, l.actor.w))
    assert.is_true(l.actor.w:requires_grad() and l.actor.w:is_persistent())
    assert.is_false(l.actor.b:requires_grad())
    assert.same({}, l.scalar:shape())
    assert.equal(2.5, l.scalar:item())
    assert.equal(17, l.opt.step)
    assert.is_true(math.type(l.opt.step) == "integer")
    assert.same({0.9, 0.999}, l.opt.betas)
    assert.equal("odd key", l.opt["a/b%#c"])
    assert.equal(s.rng:random(), l.rng:random()) -- generator state restored
    assert.equal("run-1", l.name)
    assert.equal(s.blob, l.blob)
    assert.is_false(l.flag)
    assert.is_true(l.arena:is_persistent() and same_bits(s.arena, l.arena))
    assert.equal(#s.buf, #l.buf)
    assert.is_true(same_bits(s.buf:sample(10, cil.rng(1)).obs, l.buf:sample(10, cil.rng(1)).obs))
    cil.reset()
  end)

  it("load_into copies into existing objects, all or nothing", function()
    local s = state()
    cil.checkpoint.save(tmp("c2.h5"), s)
    local t = state()
    t.arena = nil -- load_into fills persistent tensors only
    t.actor.w:fill_(0)
    t.opt.step = 0
    t.rng:random()
    t.buf:clear()
    local w_handle = t.actor.w
    cil.checkpoint.load_into(tmp("c2.h5"), t)
    assert.equal(w_handle, t.actor.w) -- same tensor object, new values
    assert.is_true(same_bits(s.actor.w, t.actor.w))
    assert.equal(17, t.opt.step)
    assert.equal(s.rng:random(), t.rng:random())
    assert.equal(6, #t.buf)

    local u = state()
    u.arena = cil.persistent(2, 2)
    u.actor.w:fill_(7)
    u.actor.b = cil.persistent(5)
    assert.matches("c2%.h5: shape mismatch at 'actor%.b': file %[4%], state %[5%]",
      errmsg(cil.checkpoint.load_into, tmp("c2.h5"), u))
    assert.equal(7, u.actor.w[1][1]) -- nothing copied before the error
    local v = state()
    v.arena = nil
    v.critic = {q = cil.persistent(3)}
    assert.matches("c2%.h5 has no entry 'critic'", errmsg(cil.checkpoint.load_into, tmp("c2.h5"), v))
    v.critic = nil
    v.opt.betas = cil.persistent(2)
    assert.matches("'opt%.betas' is a table in the file, a tensor in the state",
      errmsg(cil.checkpoint.load_into, tmp("c2.h5"), v))
  end)

  it("a failed save leaves the previous checkpoint intact and no temporary file", function()
    local s = state()
    cil.checkpoint.save(tmp("c3.h5"), s)
    local bad = state()
    bad.actor.fn = print
    assert.matches("cannot store function at 'actor%.fn'", errmsg(cil.checkpoint.save, tmp("c3.h5"), bad))
    local stale = cil.randn(3)
    cil.reset()
    assert.matches("freed by cil.reset", errmsg(cil.checkpoint.save, tmp("c3.h5"), {x = stale}))
    assert.equal("", sh("ls " .. tmpdir .. " | grep tmp- || true"))
    assert.is_true(same_bits(s.actor.w, cil.checkpoint.load(tmp("c3.h5")).actor.w))
  end)

  it("detects truncated and corrupted files, naming them", function()
    local s = state()
    s.big = cil.persistent(64, 64):fill_(3)
    cil.checkpoint.save(tmp("good.h5"), s)
    local f = assert(io.open(tmp("good.h5"), "rb"))
    local bytes = f:read("a")
    f:close()
    local t = assert(io.open(tmp("cut.h5"), "wb"))
    t:write(bytes:sub(1, #bytes // 2))
    t:close()
    assert.matches("checkpoint%.load: cannot open .*cut%.h5: .*truncated", errmsg(cil.checkpoint.load, tmp("cut.h5")))
    -- flip one byte inside the 'big' payload (a run of 3.0f = 00 00 40 40)
    local pat = string.rep("\0\0\64\64", 16)
    local at = bytes:find(pat, 1, true)
    assert.is_not_nil(at)
    local flipped = bytes:sub(1, at + 9) .. "\65" .. bytes:sub(at + 11)
    t = assert(io.open(tmp("flip.h5"), "wb"))
    t:write(flipped)
    t:close()
    assert.matches("flip%.h5 is corrupt: checksum mismatch in 'big'", errmsg(cil.checkpoint.load, tmp("flip.h5")))
    assert.matches("no checksum attributes", errmsg(cil.checkpoint.load, fx("d4rl_small.hdf5")))
    assert.is_true(same_bits(s.big, cil.checkpoint.load(tmp("good.h5")).big)) -- previous one still fine
  end)

  local function run(...)
    local args = table.concat({...}, " ")
    return os.execute(("%s %s/tests/fixtures/train_resume.lua %s 2>&1"):format(exe, here, args))
  end

  it("resuming after a kill reproduces an uninterrupted run bit for bit", function()
    assert.is_true(run("run", tmp("a_ck.h5"), tmp("a_out.h5"), 20))
    local ok, how, code = run("kill", tmp("b_ck.h5"), tmp("b_out.h5"), 20, 9)
    assert.is_falsy(ok) -- killed
    assert.is_nil(io.open(tmp("b_out.h5")))
    assert.equal(9, cil.checkpoint.load(tmp("b_ck.h5")).step)
    assert.is_true(run("resume", tmp("b_ck.h5"), tmp("b_out.h5"), 20))
    local a, b = cil.checkpoint.load(tmp("a_out.h5")), cil.checkpoint.load(tmp("b_out.h5"))
    assert.equal(20, a.step)
    assert.equal(20, b.step)
    assert.is_true(same_bits(a.model.w, b.model.w))
    assert.is_false(same_bits(a.model.w, cil.checkpoint.load(tmp("b_ck.h5")).model.w)) -- it did train
    assert.equal(a.rng:state(), b.rng:state())
    local ra, rb = a.buf:rows(), b.buf:rows()
    for _, k in ipairs{"obs", "act", "rew", "next_obs", "done"} do assert.is_true(same_bits(ra[k], rb[k]), k) end
    assert.equal(a.buf:pos(), b.buf:pos())
    cil.reset()
  end)

  it("a process killed while writing never damages the last checkpoint", function()
    local p = tmp("hammer.h5")
    local pid = sh(("%s %s/tests/fixtures/train_resume.lua hammer %s x 0 >/dev/null 2>&1 & echo $!"):format(exe, here, p))
    pid = pid:gsub("%s+$", "")
    for _ = 1, 200 do -- wait for a first complete checkpoint
      if io.open(p) then break end
      os.execute("sleep 0.05")
    end
    os.execute("sleep 0.4")
    os.execute("kill -KILL " .. pid)
    os.execute("sleep 0.1")
    local l = cil.checkpoint.load(p)
    assert.equal("hammer", l.note)
    assert.is_true(l.i >= 1)
    assert.equal(l.i, l.big[1][1])
    assert.equal(l.i, l.big[1024][4096])
  end)
end)

teardown(function()
  os.execute("rm -rf '" .. tmpdir .. "'")
end)

describe("datasets by name (--expert=)", function()
  local tmp = os.tmpname()
  os.remove(tmp)
  os.execute("mkdir -p " .. tmp .. "/d4rl " .. tmp .. "/minari/mujoco/hopper/expert-v0/data")
  teardown(function() os.execute("rm -rf " .. tmp) end)
  local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"
  local function sh(cmd)
    local p = io.popen(cmd .. " 2>&1")
    local out = p:read("a")
    return out, p:close() == true
  end
  -- 12 real hopper episodes (the first ones of the shipped expert file) in the D4RL layout, and the
  -- same episodes converted to Minari's layout with h5py (an independent writer)
  setup(function()
    local d = cil.data.load_d4rl(cil.data_path("hopper", "expert.h5"))
    local tr = cil.data.trajectories(d)
    local idx = cil.data.ranges_index({table.unpack(tr, 1, 12)})
    local small = cil.data.select(d, idx)
    small.metadata = nil
    cil.data.save_d4rl(tmp .. "/d4rl/hopper_expert-v2.hdf5", small)
    local py = [==[
import h5py, numpy as np, sys
src, dst = sys.argv[1], sys.argv[2]
with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
    o, a, r, o2 = f["observations"][:], f["actions"][:], f["rewards"][:], f["next_observations"][:]
    te, to = f["terminals"][:].astype(bool), f["timeouts"][:].astype(bool)
    ends = np.flatnonzero(te | to)
    start = 0
    for k, e in enumerate(ends):
        ep = g.create_group(f"episode_{k}")
        ep["observations"] = np.concatenate([o[start:e + 1], o2[e:e + 1]])
        ep["actions"], ep["rewards"] = a[start:e + 1], r[start:e + 1]
        ep["terminations"], ep["truncations"] = te[start:e + 1], to[start:e + 1]
        ep.attrs["id"], ep.attrs["total_steps"] = k, e + 1 - start
        start = e + 1
]==]
    local f = assert(io.open(tmp .. "/conv.py", "w")); f:write(py); f:close()
    local out, ok = sh(("/usr/bin/python3 %s/conv.py %s/d4rl/hopper_expert-v2.hdf5 %s/minari/mujoco/hopper/expert-v0/data/main_data.hdf5"):format(tmp, tmp, tmp))
    assert(ok, out)
  end)

  it("resolves D4RL and Minari ids in their stores and says where it looked", function()
    local env = ("D4RL_DATASET_DIR=%s/d4rl MINARI_DATASETS_PATH=%s/minari "):format(tmp, tmp)
    local code = [[local d, p = cil.data.load(arg[1]); io.write(cil.data.num_rows(d), " ", #cil.data.episode_returns(d), " ", p:match("[^/]+$"))]]
    local f = assert(io.open(tmp .. "/load.lua", "w")); f:write(code); f:close()
    local a, ok = sh(env .. BIN .. " " .. tmp .. "/load.lua hopper-expert-v2")
    assert.is_true(ok, a)
    local b, ok2 = sh(env .. BIN .. " " .. tmp .. "/load.lua mujoco/hopper/expert-v0")
    assert.is_true(ok2, b)
    assert.matches(" 12 hopper_expert%-v2%.hdf5$", a)
    assert.matches(" 12 main_data%.hdf5$", b)
    assert.are.equal(a:match("^(%d+)"), b:match("^(%d+)"))   -- the same rows either way
    local c, ok3 = sh(env .. BIN .. " " .. tmp .. "/load.lua hopper-medium-replay-v2")
    assert.is_false(ok3)
    assert.matches("hopper_medium_replay%-v2%.hdf5", c)         -- underscores, as D4RL names its files
  end)

  it("BC trains from a Minari id and from a D4RL id, and refuses demonstrations of another task", function()
    local env = ("D4RL_DATASET_DIR=%s/d4rl MINARI_DATASETS_PATH=%s/minari "):format(tmp, tmp)
    local base = env .. BIN .. " algorithms/bc.lua --num_expert_trajs=10 --epochs=1 --steps_per_epoch=50 --checkpoint_every=50 --out=" .. tmp
    for _, name in ipairs({"mujoco/hopper/expert-v0", "hopper-expert-v2"}) do
      local out, ok = sh(base .. "/bc-" .. name:gsub("/", "_") .. " --env=hopper --expert=" .. name)
      assert.is_true(ok, out)
      assert.matches("demonstrator%-normalized", out)
    end
    local out, ok = sh(base .. "/bc-wrong --env=walker2d --expert=" .. cil.data_path("halfcheetah", "expert.h5"))
    assert.is_false(ok)
    assert.matches("do not follow walker2d's dynamics", out)
  end)

  it("a D4RL file without timeouts is cut every 1000 steps, as D4RL's readers do, and says so", function()
    -- 2,600 rows: no termination for 1,000 rows, a termination at row 1,500, then 1,100 more rows
    local py = [==[
import h5py, numpy as np, sys
n = 2600
rng = np.random.default_rng(0)
t = np.zeros(n, bool); t[1499] = True
with h5py.File(sys.argv[1], "w") as f:
    f["observations"] = rng.standard_normal((n, 11)).astype(np.float32)
    f["actions"] = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    f["rewards"] = np.ones(n, np.float32)
    f["terminals"] = t
]==]
    local f = assert(io.open(tmp .. "/old.py", "w")); f:write(py); f:close()
    local out, ok = sh(("/usr/bin/python3 %s/old.py %s/old.hdf5"):format(tmp, tmp))
    assert(ok, out)
    local code = [[local d = cil.data.load(arg[1]); local e = {}
      for _, t in ipairs(cil.data.trajectories(d)) do e[#e + 1] = t.length .. (t.terminal and "T" or t.timeout and "O" or "-") end
      io.write(table.concat(e, " "))]]
    f = assert(io.open(tmp .. "/eps.lua", "w")); f:write(code); f:close()
    local got, ok2 = sh(BIN .. " " .. tmp .. "/eps.lua " .. tmp .. "/old.hdf5")
    assert.is_true(ok2, got)
    assert.matches("no 'timeouts' key", got)
    assert.matches("1000O 500T 1000O 100%-$", got)
    local d = cil.data.load_d4rl(tmp .. "/old.hdf5")
    assert.is_true(d.timeouts_inferred)
    assert.is_nil(cil.data.load_d4rl(cil.data_path("hopper", "expert.h5")).timeouts_inferred)
  end)
end)

describe("files are reproducible", function()
  -- no clock in the file (HDF5's object times are off) and members in name order (not pairs order,
  -- which changes from run to run): the same content saved twice, a second apart, makes the same bytes
  local function bytes(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end
  local function saved_twice(code)
    local outs = {}
    for i = 1, 2 do
      local p, script = tmp("repro" .. i .. ".h5"), tmp("repro.lua")
      local f = assert(io.open(script, "w")); f:write(code:format(p)); f:close()
      local out = sh(exe .. " " .. script .. " 2>&1; echo rc=$?")
      assert.matches("rc=0\n$", out)
      outs[i] = bytes(p)
      if i == 1 then cil.sleep(1.1) end
    end
    return outs[1], outs[2]
  end
  it("a checkpoint of a table with many keys", function()
    local a, b = saved_twice([[local cil = require "cleanil"
      local t = {w = cil.ones(3, 4), state = {step = 7, name = "x"}, [1] = 1.5, [2] = true}
      for i = 1, 40 do t["k" .. i] = i end
      cil.checkpoint.save("%s", t)]])
    assert.is_true(a == b, "two saves of the same checkpoint differ")
  end)
  it("a D4RL file with infos and metadata", function()
    local a, b = saved_twice([[local cil = require "cleanil"
      local d = cil.data.load_d4rl(cil.data_path("hopper", "expert.h5"))
      d = cil.data.select(d, cil.arange(1, 501))
      d.infos = {a = cil.ones(500), b = cil.zeros(500), c = cil.ones(500, 2)}
      d.metadata = {x = "x", y = 2, z = {p = "q", r = 1}}
      for i = 1, 20 do d.metadata["m" .. i] = i end
      cil.data.save_d4rl("%s", d)]])
    assert.is_true(a == b, "two saves of the same data set differ")
  end)
end)
