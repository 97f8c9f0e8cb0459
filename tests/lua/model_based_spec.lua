-- The model-based solvers on a small ensemble trained here: MOPO's stored reward and lambda step,
-- a short run, and its exact resume (model replay buffer included).
local cil = require "cleanil"
local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)
local support = require "support"
local sh, same_log, pieces = support.sh, support.assert_same_log, support.pieces
-- the resume check of every script here: 3 epochs straight into PREFIXfull, 2 epochs into PREFIXcut
-- and then --resume to 3 there; returns the output of the straight run
local function resume_pair(base, prefix)
  local out, ok = sh(base .. " --epochs=3 --out=" .. prefix .. "full")
  assert.is_true(ok, out)
  local out2, ok2 = sh(base .. " --epochs=2 --out=" .. prefix .. "cut")
  assert.is_true(ok2, out2)
  out2, ok2 = sh(base .. " --epochs=3 --out=" .. prefix .. "cut --resume")
  assert.is_true(ok2, out2)
  return out
end

describe("MOPO", function()
  setup(function()
    local out, ok = sh(("%s algorithms/ensemble.lua --env=hopper --max_rows=4000 --max_epochs=2 --hidden=32,32 --out=%s/ens"):format(BIN, tmp))
    assert(ok, out)
  end)
  teardown(function() os.execute("rm -rf " .. tmp) end)
  local common = " --env=hopper --model=" .. tmp .. "/ens/ensemble.h5 --transitions=data/hopper/medium_replay.h5 --hidden=32,32"

  it("stores r^ - lambda pen with lambda before its update, then moves lambda toward the target", function()
    local P = pieces("mopo", {"--env=hopper", "--model=" .. tmp .. "/ens/ensemble.h5", "--transitions=data/hopper/medium_replay.h5",
      "--hidden=32,32", "--out=" .. tmp .. "/unit"})
    local st = {reward = cil.tensor{1, 2, 3}, pen = cil.tensor{0.1, 0.2, 0.3}}
    local lam0 = math.exp(P.log_lam[1])
    local stored = P.penalized(st):totable()
    for i = 1, 3 do assert.is_true(math.abs(stored[i] - (i - lam0 * i / 10)) < 1e-6) end
    -- mean(lambda pen) = 0.2 < target 1: lambda grows (Adam's first step: lr 0.01 on log lambda)
    local lam1 = math.exp(P.log_lam[1])
    assert.is_true(math.abs(math.log(lam1) - math.log(lam0) - 0.01) < 1e-4, lam0 .. " -> " .. lam1)
    -- a rollout fills the model buffer with alive-continued rows
    P.rollout()
    assert.is_true(P.model_buf:size() > 0)
  end)

  it("runs and resumes bit for bit (model buffer, lambda and SAC included)", function()
    local base = BIN .. " algorithms/mopo.lua" .. common .. " --steps_per_epoch=100 --checkpoint_every=100 --rollout_batch=500 --horizon=5 --rollout_every=50"
    local out = resume_pair(base, tmp .. "/")
    same_log(tmp .. "/full/log.csv", tmp .. "/cut/log.csv")
    assert.matches("lam", io.open(tmp .. "/full/log.csv"):read("a"))
  end)

  it("refuses a model of another task and a model without a reward head", function()
    local out, ok = sh(BIN .. " algorithms/mopo.lua --env=walker2d --model=" .. tmp .. "/ens/ensemble.h5 --out=" .. tmp .. "/w")
    assert.is_false(ok)
    assert.matches("not of walker2d", out)
  end)
end)

describe("OMLIRL", function()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  setup(function()
    local out, ok = sh(("%s algorithms/ensemble.lua --env=hopper --max_rows=4000 --max_epochs=2 --hidden=32,32 --out=%s/ens"):format(BIN, dir))
    assert(ok, out)
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)
  it("runs (reward head dropped, penalty in the model rows) and resumes bit for bit", function()
    local base = BIN .. " algorithms/omlirl.lua --env=hopper --model=" .. dir .. "/ens/ensemble.h5 --transitions=data/hopper/medium_replay.h5"
      .. " --hidden=32,32 --num_expert_trajs=5 --steps_per_epoch=100 --checkpoint_every=100 --rollout_batch=400 --horizon=5 --rollout_every=50"
    local out = resume_pair(base, dir .. "/")
    assert.matches("demonstrator%-normalized", out)
    same_log(dir .. "/full/log.csv", dir .. "/cut/log.csv")
    local cols = cil.run.read_log(dir .. "/full/log.csv")
    for _, pen in ipairs(cols.ensemble_pen) do assert.is_true(pen > 0) end
    for _, lam in ipairs(cols.lam) do assert.is_true(lam > 0) end
    -- the checkpoint's model buffer holds the penalty in its reward column: positive, finite
    local ck = cil.checkpoint.load(dir .. "/full/checkpoint.h5")
    local rows = ck.model_buffer:rows(1, ck.model_buffer:size())
    assert.is_true(rows.rew:min():item() > 0 and rows.rew:max():item() < 1e3)
  end)
  it("RMIRL-implicit: the critic's cosine learning-rate schedule and a bit-for-bit resume", function()
    local P = pieces("rmirl_implicit", {"--env=hopper", "--model=" .. dir .. "/ens/ensemble.h5", "--transitions=data/hopper/medium_replay.h5",
      "--hidden=32,32", "--out=" .. dir .. "/iunit"})
    assert.is_true(math.abs(P.critic_lr(0) - 3e-4) < 1e-12)
    assert.is_true(math.abs(P.critic_lr(150000) - (1e-5 + 2.9e-4 / 2)) < 1e-12)
    assert.is_true(math.abs(P.critic_lr(300000) - 1e-5) < 1e-12 and P.critic_lr(900000) == 1e-5)
    local base = BIN .. " algorithms/rmirl_implicit.lua --env=hopper --model=" .. dir .. "/ens/ensemble.h5 --transitions=data/hopper/medium_replay.h5"
      .. " --hidden=32,32 --steps_per_epoch=100 --checkpoint_every=100 --rollout_batch=400 --horizon=5"
      .. " --rollout_every=50 --update_model_every=100 --adv_steps=10 --adv_rollout_steps=5"
    local out = resume_pair(base, dir .. "/i")
    same_log(dir .. "/ifull/log.csv", dir .. "/icut/log.csv")
  end)
  it("RMIRL: zero-init critics, the adversarial update, and a bit-for-bit resume", function()
    local base = BIN .. " algorithms/rmirl.lua --env=hopper --model=" .. dir .. "/ens/ensemble.h5 --transitions=data/hopper/medium_replay.h5"
      .. " --hidden=32,32 --num_expert_trajs=5 --steps_per_epoch=100 --checkpoint_every=100 --rollout_batch=400 --horizon=5"
      .. " --rollout_every=50 --update_model_every=100 --adv_steps=10 --adv_rollout_steps=5"
    local out = resume_pair(base, dir .. "/r")
    local a = io.open(dir .. "/rfull/log.csv"):read("a")
    same_log(dir .. "/rfull/log.csv", dir .. "/rcut/log.csv")
    assert.matches("model_adv_loss", a)
    -- the reference's names, each a mean over the S steps
    local cols = cil.run.read_log(dir .. "/rfull/log.csv")
    for _, k in ipairs({"adv_v_next_mean", "adv_mean", "adv_std", "adv_logp_mean", "adv_logp_std", "sl_loss", "mae"}) do
      local v = cols["model_" .. k]
      assert.is_not_nil(v, "model_" .. k)
      assert.is_true(#v > 0 and v[#v] == v[#v], "model_" .. k)
    end
    assert.is_true(cols.model_adv_std[#cols.model_adv_std] > 0)
    -- the critics' final layers start at zero
    local sac = cil.SAC(11, 3, {hidden = {8}, zero_init_critic = true}, cil.rng(1))
    assert.are.equal(0, sac.critic(cil.randn(cil.rng(2), 4, 14)):abs():max():item())
  end)
end)


describe("RAMBO", function()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  setup(function()
    local out, ok = sh(("%s algorithms/ensemble.lua --env=hopper --max_rows=4000 --max_epochs=2 --hidden=32,32 --out=%s/ens"):format(BIN, dir))
    assert(ok, out)
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)
  local common = " --env=hopper --model=" .. dir .. "/ens/ensemble.h5 --transitions=data/hopper/medium_replay.h5 --hidden=32,32"
  it("its advantage is r^ + (1 - d) gamma min Q(ô', a') - min Q(ô, a), without an entropy term", function()
    local P = pieces("rambo", {"--env=hopper", "--model=" .. dir .. "/ens/ensemble.h5", "--transitions=data/hopper/medium_replay.h5",
      "--hidden=32,32", "--out=" .. dir .. "/unit"})
    local g = cil.rng(5)
    local o, a, o2 = cil.randn(g, 6, 11):persist(), (cil.rand(g, 6, 3) * 2 - 1):persist(), cil.randn(g, 6, 11):persist()
    local r, d = cil.randn(g, 6):persist(), cil.tensor{{0}, {1}, {0}, {0}, {1}, {0}}:persist()
    local st = P.rng:state()
    local A = P.advantage(o, a, o2, r, d):totable()
    P.rng:set_state(st)
    local a2 = P.sac.actor(o2):sample(P.rng)
    local q2 = P.sac.critic(cil.cat({o2, a2}, 2)):totable()
    local q = P.sac.critic(cil.cat({o, a}, 2)):totable()
    local R, D = r:totable(), d:totable()
    for i = 1, 6 do
      local want = R[i] + (1 - D[i][1]) * 0.99 * math.min(q2[1][i][1], q2[2][i][1]) - math.min(q[1][i][1], q[2][i][1])
      assert.is_true(math.abs(A[i][1] - want) < 1e-4 * math.max(1, math.abs(want)), A[i][1] .. " vs " .. want)
    end
  end)
  it("runs with the adversarial update and resumes bit for bit (model, its optimizer and buffer included)", function()
    local base = BIN .. " algorithms/rambo.lua" .. common .. " --steps_per_epoch=100 --checkpoint_every=100 --rollout_batch=400"
      .. " --horizon=5 --rollout_every=50 --update_model_every=100 --adv_steps=10 --adv_rollout_steps=5"
    local out = resume_pair(base, dir .. "/")
    local a = io.open(dir .. "/full/log.csv"):read("a")
    same_log(dir .. "/full/log.csv", dir .. "/cut/log.csv")
    assert.matches("model_adv_loss", a)
  end)
end)

describe("MBPO", function()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  teardown(function() os.execute("rm -rf " .. dir) end)
  it("grows its horizon 1 -> 15 over epochs 20 -> 100 and retrains at every 250th update", function()
    local P = pieces("mbpo", {"--env=hopper", "--out=" .. dir .. "/unit"})
    local want = {[0] = 1, [20] = 1, [25] = 1, [26] = 2, [60] = 8, [99] = 14, [100] = 15, [500] = 15}
    for e, h in pairs(want) do assert.are.equal(h, P.horizon(e), "epoch " .. e) end
    -- k = t - 1999 (t from 0; the first update at t = 2000 is k = 1): the 250th, 500th, ... updates retrain
    assert.are.same({2000, 250}, {P.cfg.update_after, P.cfg.train_model_every})
    local due = {}
    for t = 2000, 2800 do if P.retrain_due(t) then due[#due + 1] = t end end
    assert.are.same({2249, 2499, 2749}, due)
    -- the epoch of a retrain's rollout: k = 1000 (t = 2999) is still epoch 0, k = 1250 epoch 1, k = 100,000
    -- epoch 99 (H = 14) as in the reference, whose epoch counter moves after that step's rollout
    local ep = {[2249] = 0, [2999] = 0, [3249] = 1, [3999] = 1, [4249] = 2, [101999] = 99, [102249] = 100}
    for t, e in pairs(ep) do assert.are.equal(e, P.rollout_epoch(t), "t = " .. t) end
    assert.are.equal(14, P.horizon(P.rollout_epoch(101999)))
  end)
  it("retrains every train_model_every env steps, rolls out, and resumes bit for bit", function()
    local base = BIN .. " algorithms/mbpo.lua --env=hopper --update_after=400 --steps_per_epoch=200 --checkpoint_every=100"
      .. " --train_model_every=100 --model_epochs=2 --model_rows=2000 --rollout_batch=300 --policy_steps=2"
      .. " --model_hidden=16,16 --hidden=32,32 --model_buffer_size=20000"
    local out = resume_pair(base, dir .. "/")
    local a = io.open(dir .. "/full/log.csv"):read("a")
    same_log(dir .. "/full/log.csv", dir .. "/cut/log.csv")
    local cols = cil.run.read_log(dir .. "/full/log.csv")
    -- evaluations after 200, 400, 600 updates (env steps 600, 800, 1000); retrains at k = 100, 200, ...: 2 by the first, 6 by the last
    -- (each adds at most 300 rows of horizon 1)
    assert.are.same({600, 800, 1000}, cols.step)
    assert.is_true(cols.model_buffer_size[1] > 0 and cols.model_buffer_size[1] <= 600)
    assert.is_true(cols.model_buffer_size[3] > cols.model_buffer_size[1] and cols.model_buffer_size[3] <= 1800)
  end)
end)
