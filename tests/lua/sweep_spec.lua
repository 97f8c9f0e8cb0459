-- Sweeps (issue 21): interruptible runs (every algorithm: SIGTERM -> checkpoint, status 3, --resume ends
-- as the uninterrupted run), tools/sweep.lua's local pool (a failing run, a stopped and re-run sweep),
-- and the stratified bootstrap of tools/summarize.lua. The Slurm backend: tests/sh/slurm_sweep.sh.
local cil = require "cleanil"
local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local sh = require("support").sh
local function read(p) local f = io.open(p); if not f then return nil end; local s = f:read("a"); f:close(); return s end
local function lines(p) local s = read(p); if not s then return 0 end; return select(2, s:gsub("\n", "")) end

-- start a command in the background: its pid (the command itself, not a shell) and, once it ended, its
-- exit status in files under `name`
local function start(cmd, name)
  local pidf, stf, log = name .. ".pid", name .. ".status", name .. ".log"
  os.remove(pidf); os.remove(stf)
  assert(os.execute(("( sh -c %s > %s 2>&1 < /dev/null; echo $? > %s.tmp; mv %s.tmp %s ) > /dev/null 2>&1 &"):format(
    q("echo $$ > " .. q(pidf) .. "; exec " .. cmd), q(log), q(stf), q(stf), q(stf))))
  local h = {pidf = pidf, stf = stf, log = log}
  for _ = 1, 1000 do
    h.pid = math.tointeger(tonumber((read(pidf) or ""):match("%d+") or ""))
    if h.pid then return h end
    cil.sleep(0.01)
  end
  error("no pid for " .. cmd)
end
-- wait for a started command's exit status (a safety limit only, never a measured duration)
local function finish(h)
  for _ = 1, 12000 do
    local s = read(h.stf)
    if s and s:match("%d") then return tonumber(s:match("%d+")), read(h.log) end
    cil.sleep(0.05)
  end
  error("still running after 10 minutes: " .. h.log)
end
local function wait_for(cond, what)
  for _ = 1, 12000 do
    if cond() then return end
    cil.sleep(0.02)
  end
  error("never happened: " .. what)
end

-- the headline of summary.json: the last evaluation returns and the scores (ensemble: its fit)
local function headline(dir)
  local s = read(dir .. "/summary.json") or ""
  local parts = {}
  for _, k in ipairs({"last_returns", "return_iqm", "d4rl_score_iqm", "elite_mae", "elite_nlogp", "epochs", "elites"}) do
    local v = s:match('"' .. k .. '":%s*(%b[])') or s:match('"' .. k .. '":%s*([^,}]+)')
    if v then parts[#parts + 1] = k .. "=" .. v end
  end
  return table.concat(parts, " ")
end

describe("an interrupted run (SIGTERM) resumes to the uninterrupted result", function()
  local ens = tmp .. "/ens"
  local model = " --model=" .. ens .. "/ensemble.h5 --transitions=data/hopper/medium_replay.h5 --hidden=32,32"
  local offline = " --epochs=2 --steps_per_epoch=100 --eval_episodes=1 --checkpoint_every=100000"
  local online = " --epochs=2 --update_after=100 --steps_per_epoch=100 --eval_episodes=1 --checkpoint_every=100000"
  local mb = " --num_expert_trajs=5 --rollout_batch=400 --horizon=5 --rollout_every=50"
  local adv = " --update_model_every=100 --adv_steps=10 --adv_rollout_steps=5"
  -- every algorithm, its quick preset trimmed to a few hundred steps; the model-based ones on the small
  -- ensemble the first entry trains
  local cases = {
    {"ensemble", " --preset=quick --max_rows=4000 --max_epochs=3 --max_stale=100 --hidden=32,32"},
    {"bc", " --preset=quick" .. offline .. " --steps_per_epoch=300"},
    {"ibc", " --preset=quick" .. offline},
    {"iqlearn", " --preset=quick" .. offline},
    {"recoil", " --preset=quick" .. offline},
    {"sac", " --preset=quick" .. online .. " --expert_episodes=1"},
    {"gail", " --preset=quick" .. online},
    {"recoil_online", " --preset=quick" .. online},
    {"mbpo", " --preset=quick" .. online .. " --update_after=400 --train_model_every=100 --model_epochs=2 --rollout_batch=200 --members=3 --elites=2 --model_hidden=32,32 --hidden=32,32"},
    {"mopo", " --preset=quick" .. offline .. model .. " --rollout_batch=400 --horizon=5 --rollout_every=50"},
    {"rambo", " --preset=quick" .. offline .. model .. " --rollout_batch=400 --horizon=5 --rollout_every=50 --adv_steps=10"},
    {"omlirl", " --preset=quick" .. offline .. model .. mb},
    {"rmirl", " --preset=quick" .. offline .. model .. mb .. adv},
    {"rmirl_implicit", " --preset=quick" .. offline .. model .. mb .. adv},
  }
  -- the algorithms added since (they go through the shared loops), when present
  for _, extra in ipairs({{"sqil", " --preset=quick" .. online}, {"airl", " --preset=quick" .. online},
      {"dagger", " --preset=quick --epochs=3 --steps_per_epoch=100 --eval_episodes=1"}}) do
    if read(CLEANIL_LUA_DIR .. "/algorithms/" .. extra[1] .. ".lua") then cases[#cases + 1] = extra end
  end
  teardown(function() os.execute("rm -rf " .. tmp) end)

  for _, c in ipairs(cases) do
    local algo, args = c[1], c[2]
    it(algo, function()
      local base = ("%s algorithms/%s.lua --env=hopper%s"):format(BIN, algo, args)
      local straight_dir = algo == "ensemble" and ens or (tmp .. "/" .. algo .. "-straight")
      local cut = tmp .. "/" .. algo .. "-cut"
      -- the straight run and the one to interrupt side by side
      local hs = start(base .. " --out=" .. straight_dir, tmp .. "/" .. algo .. "-s")
      local hc = start(base .. " --out=" .. cut, tmp .. "/" .. algo .. "-c")
      -- SIGTERM once its first evaluation (epoch) is logged, long before its last
      wait_for(function() return lines(cut .. "/log.csv") >= 2 or read(hc.stf) end, algo .. " logs an epoch")
      os.execute("kill -TERM " .. hc.pid)
      local code, out = finish(hc)
      assert.are.equal(3, code, out)
      assert.matches("SIGTERM: checkpoint written at step %d+", out)
      assert.is_nil(read(cut .. "/summary.json"), "an interrupted run wrote summary.json")
      local resumed = start(base .. " --out=" .. cut .. " --resume", tmp .. "/" .. algo .. "-r")
      local rc, rout = finish(resumed)
      assert.are.equal(0, rc, rout)
      local sc, sout = finish(hs)
      assert.are.equal(0, sc, sout)
      assert.are_not.equal("", headline(straight_dir), "no headline in " .. straight_dir)
      assert.are.equal(headline(straight_dir), headline(cut))
      local a, b = cil.run.read_log(straight_dir .. "/log.csv"), cil.run.read_log(cut .. "/log.csv")
      local col = a.eval_return and "eval_return" or "mae"
      assert.are.same(a[col], b[col])
      assert.are.same(a.step, b.step)
    end)
  end

  it("a second SIGINT stops at once; the run resumes from what is on disk to the same result", function()
    local base = ("%s algorithms/bc.lua --env=hopper --preset=quick --epochs=4 --steps_per_epoch=200 --eval_episodes=1 --checkpoint_every=100"):format(BIN)
    local dir = tmp .. "/bc2"
    local h = start(base .. " --out=" .. dir, tmp .. "/bc2")
    wait_for(function() return lines(dir .. "/log.csv") >= 2 or read(h.stf) end, "bc logs an epoch")
    os.execute("kill -INT " .. h.pid .. "; kill -INT " .. h.pid)
    local code, out = finish(h)
    assert.are_not.equal(0, code, out)                    -- it did not run to the end
    assert.is_nil(read(dir .. "/summary.json"))
    local r = start(base .. " --out=" .. dir .. " --resume", tmp .. "/bc2r")
    local rc, rout = finish(r)
    assert.are.equal(0, rc, rout)
    local ref = start(base .. " --out=" .. tmp .. "/bc2ref", tmp .. "/bc2ref")
    assert.are.equal(0, (finish(ref)))
    assert.are.equal(headline(tmp .. "/bc2ref"), headline(dir))
    assert.are.equal(read(tmp .. "/bc2ref/log.csv"), read(dir .. "/log.csv"))
  end)

  -- Slurm signals the batch shell and the run one after the other, and the shell passes SIGTERM on as
  -- SIGUSR1: the run may get the notice first and Slurm's SIGTERM second. That is one request, not the
  -- "second signal: stop at once" of a repeated Ctrl-C. A polling script sends itself the signals in
  -- both orders (os.execute's shell is its child: $PPID) and must live to report them.
  it("SIGUSR1 beside SIGTERM, in either order, is one request; a second SIGTERM stops at once", function()
    local script = tmp .. "/signals.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
local cil = require "cleanil"
assert(cil.interrupted() == nil)
local function kill(sig) os.execute("kill -" .. sig .. " $PPID") end
-- a process signal may land on a library's thread and reach the Lua thread a moment later: wait for
-- it (busily: cil.sleep does not wait while a signal is pending)
local function wait(s) local t = os.clock() while os.clock() - t < s do end end
local function seen(want)
  local t = os.clock()
  while os.clock() - t < 2 do if cil.interrupted() == want then return true end end
  return false
end
kill("USR1"); assert(seen("SIGUSR1"))
kill("TERM"); assert(seen("SIGTERM"))                  -- the notice, then Slurm's SIGTERM
kill("USR1"); wait(0.2); assert(seen("SIGTERM"))       -- a notice after it changes nothing
print("alive")
io.stdout:flush()
kill("TERM")                                           -- a second SIGTERM: the default action
wait(2)                                                -- (ended by the signal at once)
print("not reached")
]])
    f:close()
    local out, ok, code = sh(BIN .. " " .. q(script))
    assert.matches("alive", out)
    assert.is_nil(out:find("not reached", 1, true), out)
    assert.is_false(ok, out)
    assert.are_not.equal(0, code, out)
  end)
end)

describe("tools/sweep.lua, local pool", function()
  local root = os.tmpname()
  os.remove(root)
  os.execute("mkdir -p " .. root)
  teardown(function() os.execute("rm -rf " .. root) end)
  local function manifest(name, body)
    local p = root .. "/" .. name .. ".lua"
    local f = assert(io.open(p, "w"))
    f:write(body)
    f:close()
    return p
  end
  local function starts(dir) return select(2, (read(dir .. "/console.log") or ""):gsub("== sweep [^\n]*: start", "")) end

  it("reports a failing run with its error and finishes the others", function()
    local m = manifest("fail", ([[return {out = %q, algorithms = {"bc", "iqlearn"}, tasks = {"hopper"}, seeds = {0, 1},
      overrides = {epochs = 1, steps_per_epoch = 100, eval_episodes = 1}, per_algorithm = {iqlearn = {lr_actor = -1}},
      workers = 2}]]):format(root .. "/fail"))
    local out, ok = sh(BIN .. " tools/sweep.lua " .. m)
    assert.is_false(ok, out)
    assert.matches("iqlearn%-hopper%-seed0: failed %(iqlearn: %-%-lr_actor=%-1: lr_actor must be a finite positive number", out)
    assert.matches("2 run%(s%) failed", out)
    for _, s in ipairs({0, 1}) do
      assert.is_not_nil(read(root .. "/fail/bc-hopper-seed" .. s .. "/summary.json"), out)
      assert.is_nil(read(root .. "/fail/iqlearn-hopper-seed" .. s .. "/summary.json"))
    end
    local st = sh(BIN .. " tools/sweep.lua " .. m .. " --status")
    assert.matches("4 runs %(2 done, 2 failed%)", st)
  end)

  it("expands lists into a grid and says what it would run (--dry-run)", function()
    local m = manifest("grid", ([[return {out = %q, algorithms = {"bc"}, tasks = {"hopper", "walker2d"}, seeds = {0, 1, 2},
      overrides = {lr_actor = {1e-3, 3e-4}, hidden = "64,64"}, threads = 2}]]):format(root .. "/grid"))
    local out, ok = sh(BIN .. " tools/sweep.lua " .. m .. " --dry-run")
    assert.is_true(ok, out)
    assert.matches("12 runs, 12 to do, %d+ workers of 2 thread%(s%)", out)
    assert.matches("bc%-walker2d%-seed2%-lr_actor=0%.0003'", out)
    assert.matches("'%-%-hidden=64,64'", out)
    assert.matches("'%-%-threads=2'", out)
    out, ok = sh(BIN .. " tools/sweep.lua " .. m .. " --backend=slurm --dry-run")
    assert.is_true(ok, out)
    assert.matches("#SBATCH %-%-array=0,1,2,3,4,5,6,7,8,9,10,11", out)
    assert.matches("#SBATCH %-%-cpus%-per%-task=2", out)
    assert.matches("#SBATCH %-%-requeue", out)
    assert.matches("#SBATCH %-%-signal=B:USR1@%d+", out)
    out, ok = sh(BIN .. " tools/sweep.lua " .. manifest("bad", "return {algorithms = {'bc'}, tasks = {'hopper'}, seeds = {0}, sedes = 1}"))
    assert.is_false(ok)
    assert.matches("unknown manifest key 'sedes'", out)
  end)

  it("a stopped sweep, run again, finishes only what was left", function()
    local m = manifest("stop", ([[return {out = %q, algorithms = {"bc"}, tasks = {"hopper"}, seeds = {0, 1, 2},
      overrides = {epochs = 3, steps_per_epoch = 300, eval_episodes = 1, checkpoint_every = 100000}, workers = 1}]]):format(root .. "/stop"))
    local h = start(BIN .. " tools/sweep.lua " .. m, root .. "/sweep1")
    local d = function(s) return root .. "/stop/bc-hopper-seed" .. s end
    -- stop it while the second run works (the first has finished, the third not begun)
    wait_for(function() return lines(d(1) .. "/log.csv") >= 2 or read(h.stf) end, "the second run logs an epoch")
    os.execute("kill -TERM " .. h.pid)
    local code, out = finish(h)
    assert.are.equal(3, code, out)
    assert.is_not_nil(read(d(0) .. "/summary.json"), out)
    assert.is_nil(read(d(1) .. "/summary.json"), out)
    assert.matches("checkpoint written at step", read(d(1) .. "/console.log"))
    assert.are.equal(0, starts(d(2)))
    local before = read(d(0) .. "/summary.json")
    out, ok = sh(BIN .. " tools/sweep.lua " .. m)
    assert.is_true(ok, out)
    assert.matches("3 runs, 2 to do", out)
    assert.matches("all 3 runs done", out)
    assert.are.same({1, 2, 1}, {starts(d(0)), starts(d(1)), starts(d(2))})
    assert.are.equal(before, read(d(0) .. "/summary.json"))
    -- the resumed run ends as it would have straight
    local ref = start(BIN .. " algorithms/bc.lua --env=hopper --seed=1 --threads=1 --checkpoint_every=100000 --epochs=3 --eval_episodes=1 --steps_per_epoch=300 --out=" .. root .. "/ref1", root .. "/ref1")
    assert.are.equal(0, (finish(ref)))
    assert.are.equal(headline(root .. "/ref1"), headline(d(1)))
    -- nothing left: a third start runs nothing
    out, ok = sh(BIN .. " tools/sweep.lua " .. m)
    assert.is_true(ok, out)
    assert.matches("3 runs, 0 to do", out)
  end)
end)

describe("the stratified bootstrap interval", function()
  it("is [0, 1] for two runs scoring 0 and 1 (IQM of 2 = mean: 0, 0.5 or 1)", function()
    local m, lo, hi = cil.run.stratified_bootstrap({{0, 1}})
    assert.are.equal(0.5, m)
    assert.are.equal(0, lo)
    assert.are.equal(1, hi)
  end)
  it("resamples within each task: constant tasks give a point interval, pooled runs do not", function()
    local m, lo, hi = cil.run.stratified_bootstrap({{10, 10, 10}, {20, 20, 20}})
    assert.are.same({15, 15, 15}, {m, lo, hi})
    local pm, plo, phi = cil.run.stratified_bootstrap({{10, 10, 10, 20, 20, 20}})
    assert.are.equal(15, pm)
    assert.is_true(plo < 15 and phi > 15, plo .. " " .. phi)
  end)
  it("summarize.lua over a sweep root: rows per task and over tasks, the reference, summary.md, curves.png", function()
    local root = os.tmpname()
    os.remove(root)
    local idx = {"return {name = 'syn', runs = {"}
    for ti, task in ipairs({"hopper", "walker2d"}) do
      for seed = 0, 2 do
        local dir = ("bc-%s-seed%d"):format(task, seed)
        os.execute("mkdir -p " .. root .. "/" .. dir)
        local f = assert(io.open(root .. "/" .. dir .. "/summary.json", "w"))
        f:write(('{"algo": "bc", "env": "%s", "seed": %d, "d4rl_score_iqm": %d, "demo_score_iqm": %d, "loop_share": {"env": 0.5}}\n')
          :format(task, seed, 10 * ti, 5 * ti))
        f:close()
        f = assert(io.open(root .. "/" .. dir .. "/log.csv", "w"))
        f:write("step,eval_score\n100,", seed, "\n200,", 2 * seed + ti, "\n")
        f:close()
        idx[#idx + 1] = ("{algo = 'bc', env = '%s', seed = %d, dir = '%s'},"):format(task, seed, dir)
      end
    end
    idx[#idx + 1] = "{algo = 'bc', env = 'hopper', seed = 9, dir = 'bc-hopper-seed9'}}}"
    local f = assert(io.open(root .. "/sweep-index.lua", "w"))
    f:write(table.concat(idx, "\n"))
    f:close()
    local out, ok = sh(BIN .. " tools/summarize.lua " .. root)
    assert.is_true(ok, out)
    assert.matches("1 run%(s%) not finished, left out: [^\n]*bc%-hopper%-seed9", out)
    local md = read(root .. "/summary.md")
    assert.matches("| bc | hopper | 3 | 10.0 [10.0, 10.0] | 5.0 [5.0, 5.0] | 86.27 ± 11.65 |", md, 1, true)
    assert.matches("| bc | walker2d | 3 | 20.0 [20.0, 20.0] | 10.0 [10.0, 10.0] | 99.54 ± 0.17 |", md, 1, true)
    assert.matches("| bc | all 2 tasks | 6 | 15.0 [15.0, 15.0] | 7.5 [7.5, 7.5] | - |", md, 1, true)
    assert.are.equal("\137PNG", read(root .. "/curves.png"):sub(1, 4))
    os.execute("rm -rf " .. root)
  end)
end)
