-- GAIL's reward update (algorithms.md §2.6, §4.6): 256 expert vs 256 replay rows,
-- -(mean R(x_E) - mean R(x_pi)) + 10 GP(c = 1) + 1e-5 l2, clip 1000, Adam -- as bench/torch_gail.py.
-- With a third argument "full": a whole GAIL iteration -- that reward update, then 128 expert + 128
-- replay rows relabelled by R (no grad) and one SAC update (as torch_gail.py --full, "gail_iter").
-- usage: cleanil bench/gail.lua [threads] [seconds] [full]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
local full = arg[3] == "full"
cil.set_num_threads(threads)
cil.manual_seed(0)
local O, A, BS = 11, 3, 256
local expert, replay = cil.ReplayBuffer(10000, O, A), cil.ReplayBuffer(100000, O, A)
expert:add(cil.randn(10000, O), cil.rand(10000, A) * 2 - 1, cil.zeros(10000, 1), cil.randn(10000, O), cil.zeros(10000, 1))
replay:add(cil.randn(100000, O), cil.rand(100000, A) * 2 - 1, cil.zeros(100000, 1), cil.randn(100000, O),
  cil.rand(100000, 1):lt(0.01))
local R = cil.RewardModel(O, A, {use_done = true, max_reward = 10, hidden = {256, 256, 256}, activation = "silu"})
local params = R:parameters()
local opt = cil.optim.Adam(params, {lr = 3e-4})
local rng = cil.rng(1)
local function x_of(b) return R:inputs(b.obs, b.act, b.done) end
local function step()
  cil.reset()
  local xe, xp = x_of(expert:sample(BS, rng)), x_of(replay:sample(BS, rng))
  local gp = cil.gradient_penalty(R, xe, xp, 1, rng)
  local loss = -(R(xe):mean() - R(xp):mean()) + gp * 10 + cil.l2(params) * 1e-5
  opt:zero_grad(); loss:backward({inputs = params})
  cil.optim.clip_grad_norm(params, 1000); opt:step()
  return loss:item()
end
local sac = full and cil.SAC(O, A, {alpha = 1.0}, cil.rng(0))
local function iter()
  step()
  local b = cil.data.sample_mixed(expert, replay, BS, 0.5, rng)
  b.rew = cil.no_grad(function() return R(x_of(b)) end)
  sac:update(b)
end
local rate, lo, hi = B.measure(full and iter or step, seconds)
local dims = {O + A + 1, 256, 256, 256, 1}
local flop = B.reward_step_flop(O + A + 1, BS)
-- full: + relabel (fwd 256) + the SAC update
if full then flop = flop + B.lin(dims, BS, function() return 1 end) + B.sac_flop(O, A, BS) end
B.emit(full and "gail_iter" or "gail_reward_update", threads, rate, lo, hi, flop)
