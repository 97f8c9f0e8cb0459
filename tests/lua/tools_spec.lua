-- Command-line tools on small inputs made here: summarize (IQM over seeds + bootstrap CI).
local cil = require "cleanil"
local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"

local sh = require("support").sh

describe("tools/summarize.lua", function()
  local dir = os.tmpname()
  os.remove(dir)
  local runs = {}
  setup(function()
    for i, score in ipairs({10, 20, 30, 40, 1000}) do
      local d = dir .. "/run" .. i
      os.execute("mkdir -p " .. d)
      local f = assert(io.open(d .. "/summary.json", "w"))
      f:write(string.format('{"algo": "bc", "env": "hopper", "seed": %d, "last_returns": [1, 2], "d4rl_score_iqm": %g, "demo_score_iqm": %g}', i, score, score / 2))
      f:close()
      runs[i] = d
    end
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("gives the IQM over seeds and a bootstrap interval that contains it", function()
    local out, ok = sh(BIN .. " tools/summarize.lua --markdown " .. table.concat(runs, " "))
    assert.is_true(ok, out)
    -- IQM of {10, 20, 30, 40, 1000}: trim floor(5/4) = 1 each side -> mean(20, 30, 40) = 30
    local n, m, lo, hi, m2 = out:match("| bc | hopper | (%d+) | ([%d.]+) %[([%d.]+), ([%d.]+)%] | ([%d.]+)")
    assert.equal("5", n)
    assert.near(30, tonumber(m), 1e-9)
    assert.near(15, tonumber(m2), 1e-9)
    assert.is_true(tonumber(lo) <= 30 and tonumber(hi) >= 30 and tonumber(lo) >= 10 and tonumber(hi) <= 1000, out)
    assert.is_true(tonumber(lo) < tonumber(hi), out)
  end)

  it("keeps a sweep's grid settings apart (one row per setting, the reference by algorithm)", function()
    local vd = dir .. "/grid"
    local list = {}
    for i, p in ipairs({{"fp32", 100}, {"fp32", 102}, {"bf16", 50}, {"bf16", 52}}) do
      local d = ("%s/gail-hopper-seed%d-precision=%s"):format(vd, i, p[1])
      os.execute("mkdir -p '" .. d .. "'")
      local f = assert(io.open(d .. "/summary.json", "w"))
      f:write(('{"algo": "gail", "env": "hopper", "seed": %d, "d4rl_score_iqm": %g, "demo_score_iqm": %g}'):format(i, p[2], p[2]))
      f:close()
      list[#list + 1] = "'" .. d .. "'"
    end
    local out, ok = sh(BIN .. " tools/summarize.lua --markdown " .. table.concat(list, " "))
    assert.is_true(ok, out)
    local m32 = out:match("| gail precision=fp32 | hopper | 2 | ([%d.]+) ")
    local m16 = out:match("| gail precision=bf16 | hopper | 2 | ([%d.]+) ")
    assert.near(101, tonumber(m32), 1e-9)   -- IQM of two runs: trim 0 -> the mean
    assert.near(51, tonumber(m16), 1e-9)
    local ref = cil.reference_scores.gail.hopper
    assert.is_truthy(out:find(("| gail precision=bf16 | hopper | 2 | [^\n]* | %.2f ± %.2f |"):format(ref[1], ref[2])), out)
    os.execute("rm -rf '" .. vd .. "'")
  end)

  it("says which run has not finished", function()
    local out, ok = sh(BIN .. " tools/summarize.lua " .. dir)
    assert.is_falsy(ok)
    assert.matches("has no summary.json", out)
  end)
end)

describe("policy.collect and tools/medium_expert.lua", function()
  local tmp = os.tmpname()
  os.remove(tmp)
  os.execute("mkdir -p " .. tmp)
  teardown(function() os.execute("rm -rf " .. tmp) end)

  it("collects exactly the rows asked for, whole episodes in order, D4RL flags and infos", function()
    local p = cil.policy.load(cil.data_path("hopper", "medium_policy.h5"), "hopper")
    local d, rets = cil.policy.collect(p, {rows = 2500, envs = 8, seed = 3})
    assert.are.equal(2500, cil.data.num_rows(d))
    local tr = cil.data.trajectories(d)
    local complete = 0
    for i, t in ipairs(tr) do
      if t.complete then complete = complete + 1; assert.is_true(math.abs(t.ret - rets[complete]) < 1e-3 * math.abs(t.ret) + 1e-3) end
      if i < #tr then assert.is_true(t.complete) end         -- only the last episode may be cut
    end
    assert.are.equal(#rets, complete)
    -- a row's next observation is the following row's observation inside an episode
    local o, o2, ends = d.observations, d.next_observations, cil.maximum(d.terminals, d.timeouts):totable()
    for i = 1, 2499, 97 do
      if ends[i] == 0 then assert.are.equal(0, (o2[i] - o[i + 1]):abs():max():item()) end
    end
    -- infos: qpos[2:] is the observation's position part (hopper: 5 of 6), log-probs are finite
    assert.are.same({2500, 6}, d.infos.qpos:shape())
    assert.is_true((d.infos.qpos:narrow(2, 2, 5) - o:narrow(2, 1, 5)):abs():max():item() < 1e-6)
    assert.is_true(d.infos.action_log_probs:abs():max():item() < 1e6)
    assert.is_true(cil.data.check_task(d, "hopper"))
  end)

  it("makes a medium-expert file and checks it against a record", function()
    local out, ok = sh(BIN .. " tools/medium_expert.lua --env=hopper --rows=1500 --envs=6 --out=" .. tmp .. "/me.h5")
    assert.is_true(ok, out)
    local d = cil.data.load_d4rl(tmp .. "/me.h5")
    assert.are.equal(3000, cil.data.num_rows(d))
    -- medium rows first: the first part's mean return is below the second's
    local f = cil.shipped.make_medium_expert("hopper", tmp .. "/me2.h5", {rows = 1500, envs = 6})
    assert.is_true(f.medium.return_mean < f.expert.return_mean)
    assert.is_true(cil.shipped.check_medium_expert("hopper", f, f))
    local wrong = {rows = 3000, rows_per_part = 1500, medium = {episodes = f.medium.episodes, return_mean = f.medium.return_mean + 1e4,
      return_std = 1}, expert = f.expert}
    local ok2, why = cil.shipped.check_medium_expert("hopper", f, wrong)
    assert.is_false(ok2)
    assert.matches("medium part: mean return", why)
    local ok3, why3 = cil.shipped.check_medium_expert("hopper", {rows = 10, medium = f.medium, expert = f.expert}, f)
    assert.is_false(ok3)
    assert.matches("10 rows", why3)
  end)
end)
