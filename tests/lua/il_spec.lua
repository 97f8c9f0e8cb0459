-- Imitation pieces: GAIL's gradient penalty vs finite differences, BC's loss, and end-to-end runs
-- of the BC and GAIL scripts on a demonstration file made here.
local cil = require "cleanil"
local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"

describe("gradient penalty", function()
  local function setup()
    cil.manual_seed(3)
    local R = cil.RewardModel(3, 2, {use_done = true, max_reward = 10, hidden = {16, 16}, activation = "silu"})
    local g = cil.rng(9)
    local xe = R:inputs(cil.randn(g, 6, 3), cil.rand(g, 6, 2), cil.tensor{{0}, {0}, {1}, {0}, {0}, {0}}):persist()
    local xp = R:inputs(cil.randn(g, 6, 3), cil.rand(g, 6, 2), cil.zeros(6, 1)):persist()
    return R, xe, xp
  end
  -- the penalty with the input gradient taken by central differences (double-precision sums)
  local function gp_fd(R, xe, xp, beta, c)
    local x = (xe * beta + xp * (1 - beta)):persist()
    local n, total = x:size(1), 0
    for i = 1, n do
      local best = 0
      for j = 1, x:size(2) do
        local row = x[i]
        local x0 = row[j]
        local h = 1e-2
        row[j] = x0 + h; local fp = cil.no_grad(function() return R(x):sum():item() end)
        row[j] = x0 - h; local fm = cil.no_grad(function() return R(x):sum():item() end)
        row[j] = x0
        best = math.max(best, math.abs((fp - fm) / (2 * h)))
      end
      total = total + math.max(best - c, 0) ^ 2
    end
    return total / n
  end
  it("equals the penalty computed with finite-difference input gradients", function()
    local R, xe, xp = setup()
    for _, c in ipairs({0, 0.05}) do
      local g = cil.rng(1)
      local st = g:state()
      local gp = cil.gradient_penalty(R, xe, xp, c, g):item()
      g:set_state(st)
      local beta = cil.rand(g, 6, 1)
      local want = gp_fd(R, xe, xp, beta, c)
      assert.is_true(math.abs(gp - want) < 1e-3 * math.max(1, want), gp .. " vs " .. want)
    end
  end)
  it("its gradient in the reward weights matches finite differences (grad of grad)", function()
    local R, xe, xp = setup()
    local w = R.net.layers[1].weight
    local function gp_value()
      local g = cil.rng(1)
      return cil.gradient_penalty(R, xe, xp, 0, g)
    end
    w.grad = nil
    gp_value():backward({inputs = {w}})
    local flat = cil.no_grad(function() return w:reshape(-1) end) -- a view for in-place edits
    local cols = w:size(2)
    for _, idx in ipairs({{1, 1}, {2, 4}, {5, 6}}) do
      local k = (idx[1] - 1) * cols + idx[2]
      local x0, h = flat[k], 1e-2
      flat[k] = x0 + h; local fp = gp_value():item()
      flat[k] = x0 - h; local fm = gp_value():item()
      flat[k] = x0
      local num, ana = (fp - fm) / (2 * h), w.grad[idx[1]][idx[2]]
      assert.is_true(math.abs(num - ana) < 5e-3 + 3e-2 * math.abs(num), ana .. " vs " .. num)
    end
  end)
end)

describe("BC loss", function()
  it("is the tanh-Gaussian negative log-likelihood of the expert actions", function()
    local actor = cil.TanhNormalActor(4, 2, {8})
    local o, a = cil.randn(5, 4), cil.rand(5, 2) * 1.6 - 0.8
    local d = actor(o)
    local loss = -d:log_prob(a):mean():item()
    local want = 0
    for i = 1, 5 do
      for j = 1, 2 do
        local mu, ls, aj = d.mu[i][j], d.base.log_std[i][j], a[i][j]
        local x = 0.5 * math.log((1 + aj) / (1 - aj))
        want = want - (-0.5 * ((x - mu) / math.exp(ls)) ^ 2 - ls - 0.5 * math.log(2 * math.pi) - math.log(1 - aj * aj)) / 5
      end
    end
    assert.is_true(math.abs(loss - want) < 1e-4, loss .. " vs " .. want)
  end)
end)

describe("end to end", function()
  local tmp = os.tmpname()
  os.remove(tmp)
  os.execute("mkdir -p " .. tmp)
  local demo = tmp .. "/demo.h5"

  -- 12 episodes of a fixed random linear policy on hopper, in the D4RL layout
  setup(function()
    local env = cil.env.make("hopper", {num_envs = 1, seed = 5})
    local g = cil.rng(2)
    local W = (cil.randn(g, 11, 3) * 0.3):persist()
    local cols = {o = {}, a = {}, r = {}, o2 = {}, term = {}, tout = {}}
    for ep = 1, 12 do
      local obs = env:reset_one(1, ep):reshape(1, 11):persist()
      for t = 1, 1000 do
        cil.reset()
        local a = obs:matmul(W):tanh():persist()
        local o2, r, term = env:step(a)
        cols.o[#cols.o + 1] = obs; cols.a[#cols.a + 1] = a; cols.o2[#cols.o2 + 1] = o2
        cols.r[#cols.r + 1] = r[1]; cols.term[#cols.term + 1] = term[1]
        cols.tout[#cols.tout + 1] = (t == 1000 and term[1] == 0) and 1 or 0
        if term[1] > 0 then break end
        obs = o2
      end
    end
    cil.data.save_d4rl(demo, {observations = cil.cat(cols.o, 1), actions = cil.cat(cols.a, 1),
      next_observations = cil.cat(cols.o2, 1), rewards = cil.tensor(cols.r), terminals = cil.tensor(cols.term),
      timeouts = cil.tensor(cols.tout)})
  end)
  teardown(function() os.execute("rm -rf " .. tmp) end)

  local function run(cmd)
    local f = io.popen(cmd .. " 2>&1")
    local out = f:read("a")
    local ok = f:close() == true
    return ok, out
  end
  it("BC runs, logs, checkpoints, resumes and writes the headline", function()
    local base = string.format("%s algorithms/bc.lua --env=hopper --expert_path=%s --num_expert_trajs=10 --expert_rule=first --epochs=2 --steps_per_epoch=100 --checkpoint_every=100 --out=%s/bc", BIN, demo, tmp)
    local ok, out = run(base)
    assert.is_true(ok, out)
    assert.matches("D4RL score", out)
    assert.matches("demonstrator%-normalized", out)
    local ok2, out2 = run(base .. " --epochs=3 --resume")
    assert.is_true(ok2, out2)
    -- a changed config is named, only the key that changed
    assert.matches("differs from the checkpoint's: epochs = 3 %(checkpoint: 2%)\n", out2)
    local rows = 0
    for _ in io.lines(tmp .. "/bc/log.csv") do rows = rows + 1 end
    assert.are.equal(4, rows) -- header + 3 epochs
    local s = io.open(tmp .. "/bc/summary.json"):read("a")
    assert.matches('"d4rl_score_iqm"', s)
    -- TensorBoard events decode with their CRCs, one event per logged row (+ the header event)
    local ev = io.popen("ls " .. tmp .. "/bc/events.out.tfevents.*"):read("l")
    local events = cil.tensorboard.read(ev)
    assert.are.equal("brain.Event:2", events[1].file_version)
    assert.is_number(events[#events].values.eval_return)
    -- the plot command turns the CSV into a PNG
    local okp, outp = run(string.format("%s tools/plot.lua %s/bc --out=%s/c.png", BIN, tmp, tmp))
    assert.is_true(okp, outp)
    assert.are.equal("\137PNG", io.open(tmp .. "/c.png", "rb"):read(4))
    -- the trained policy collects demonstrations in the D4RL layout
    local okc, outc = run(string.format("%s tools/collect.lua --policy=%s/bc/policy.h5 --env=hopper --episodes=2 --out=%s/demo2.h5", BIN, tmp, tmp))
    assert.is_true(okc, outc)
    local d = cil.data.load_d4rl(tmp .. "/demo2.h5")
    assert.are.equal(2, #cil.data.trajectories(d))
    assert.are.same({#d.observations, 6}, d.infos.qpos:shape())
  end)
  it("a resumed run's CSV takes columns the script has started to log since", function()
    local dir = tmp .. "/grow"
    os.execute("mkdir -p " .. dir)
    local f = io.open(dir .. "/log.csv", "w"); f:write("step,a\n1000,5\n2000,6\n"); f:close()
    io.open(dir .. "/checkpoint.h5", "w"):close()          -- run.start only looks for the file
    local r = cil.run.start("bc", {env = "hopper", seed = 0}, {out = dir, resume = ""})
    assert.is_true(r.resuming)
    r:trim_log(1000)
    r:log({step = 2000, a = 7, b = 8})
    r.csv:close()
    local lines = {}
    for line in io.lines(dir .. "/log.csv") do lines[#lines + 1] = line end
    assert.are.same({"step,a,b", "1000,5,", "2000,7,8"}, lines)
  end)
  it("GAIL runs its reward and policy updates end to end", function()
    local ok, out = run(string.format("%s algorithms/gail.lua --env=hopper --expert_path=%s --expert_rule=first --epochs=1 --update_after=300 --steps_per_epoch=200 --out=%s/gail", BIN, demo, tmp))
    assert.is_true(ok, out)
    local header = io.open(tmp .. "/gail/log.csv"):read("l")
    assert.matches("grad_penalty", header)
    assert.matches("reward_loss", header)
    -- the spec's other GAIL logs, with values
    local cols = cil.run.read_log(tmp .. "/gail/log.csv")
    for _, k in ipairs{"reward_abs", "train_act_logp", "train_act_mae"} do
      assert.is_number(cols[k] and cols[k][1], k)
    end
    assert.is_true(cols.reward_abs[1] >= 0 and cols.reward_abs[1] <= 10)   -- |R| within the clip
    assert.is_true(cols.train_act_mae[1] >= 0 and cols.train_act_mae[1] <= 2)
  end)
  it("bad config keys and values are clear errors", function()
    local ok, out = run(BIN .. " algorithms/bc.lua --env=hopper --lr_actr=1")
    assert.is_false(ok)
    assert.matches("unknown config key 'lr_actr' %(did you mean 'lr_actor'%?%)", out)
    ok, out = run(BIN .. " algorithms/gail.lua --env=hopper --epochs=many")
    assert.is_false(ok)
    assert.matches("expected integer", out)
    ok, out = run(BIN .. " algorithms/bc.lua --env=pong")
    assert.is_false(ok)
    assert.matches("no config for env 'pong'", out)
    ok, out = run(BIN .. " algorithms/gail.lua --help")
    assert.is_true(ok)
    assert.matches("%-%-grad_penalty", out)
  end)
end)
