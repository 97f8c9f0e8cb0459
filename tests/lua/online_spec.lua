-- The online loop (lua/cleanil/online.lua) and resumed runs: the timeout column follows the replay
-- ring after it wraps, and a resumed run equals an uninterrupted one in training AND evaluation.
local cil = require "cleanil"
local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"

local sh = require("support").sh

describe("online loop", function()
  it("writes each row's timeout flag into that row's ring slot, also after the ring wraps", function()
    local dir = os.tmpname()
    os.remove(dir)
    local cfg = {env = "hopper", seed = 3, buffer_size = 300, update_after = 1000, epochs = 0, steps_per_epoch = 1000,
      max_episode_steps = 25, eval_episodes = 1, checkpoint_every = 100000, print_every_s = 1e9}
    local run = cil.run.start("online-test", cfg, {out = dir})
    local loop = cil.online.Loop(run, cfg, cil.rng(1))
    local actor = cil.TanhNormalActor(11, 3, {8})
    loop:train{actor = actor, learn = function() end, extra_state = function() return {} end, load_extra = function() end}
    -- in time order from the oldest row: a row ends its episode (done or timeout) iff the next row
    -- does not continue from its next observation
    local b, n = loop.buffer, loop.buffer:size()
    assert.are.equal(300, n)
    local rows = b:rows(1, n)
    local to = loop.timeouts:narrow(1, 1, n):totable()
    local done = rows.done:reshape(n):totable()
    local start, ends, timeouts = b:pos(), 0, 0
    for k = 0, n - 2 do
      local i, j = (start - 1 + k) % n + 1, (start + k) % n + 1
      local continues = (rows.next_obs[i] - rows.obs[j]):abs():max():item() == 0
      assert.are.equal(not continues, done[i] == 1 or to[i] == 1, "row " .. i)
      if to[i] == 1 then timeouts = timeouts + 1 end
      if not continues then ends = ends + 1 end
    end
    assert.is_true(timeouts > 3 and ends > timeouts)   -- both kinds of episode end occur
    os.execute("rm -rf " .. dir)
  end)
end)

describe("a resumed run", function()
  local tmp = os.tmpname()
  os.remove(tmp)
  os.execute("mkdir -p " .. tmp)
  teardown(function() os.execute("rm -rf " .. tmp) end)
  local function column(path, name)
    local cols = cil.run.read_log(path)
    return cols[name]
  end
  it("evaluates exactly as the uninterrupted run and writes the same summary (BC)", function()
    local demo = cil.data_path("hopper", "expert.h5")
    local base = ("%s algorithms/bc.lua --env=hopper --expert_path=%s --num_expert_trajs=5 --steps_per_epoch=100 --checkpoint_every=100 --eval_episodes=2"):format(BIN, demo)
    local out, ok = sh(base .. " --epochs=4 --out=" .. tmp .. "/full")
    assert.is_true(ok, out)
    out, ok = sh(base .. " --epochs=2 --out=" .. tmp .. "/cut")
    assert.is_true(ok, out)
    out, ok = sh(base .. " --epochs=4 --out=" .. tmp .. "/cut --resume")
    assert.is_true(ok, out)
    local a, b = column(tmp .. "/full/log.csv", "eval_return"), column(tmp .. "/cut/log.csv", "eval_return")
    assert.are.equal(4, #a)
    assert.are.same(a, b)
    local s1 = io.open(tmp .. "/full/summary.json"):read("a"):gsub('"loop_[%w_]+": [^,}]+', "")
    local s2 = io.open(tmp .. "/cut/summary.json"):read("a"):gsub('"loop_[%w_]+": [^,}]+', "")
    assert.are.equal(s1, s2)
  end)
end)
