-- A model rollout as OMLIRL/MOPO run it (algorithms.md §3.4, §4.7, §5.3), hopper sizes: 5000 start
-- states x 40 steps of actor sample -> 7-member ensemble step (all members sampled, one picked per
-- row from 5 elites) -> uncertainty penalty -> sticky termination -> |ô'| < 30 filter -> append to a
-- 1e6-row model buffer. One call = one whole rollout; the rate is model rows (env steps) per second.
-- The work of bench/torch_rollout.py.
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
cil.set_num_threads(threads)
cil.manual_seed(0)
local O, A, E, N, H = 11, 3, 7, 5000, 40
local dyn = cil.EnsembleDynamics(O, A, {members = E, rng = cil.rng(1)})
dyn:set_elites({1, 2, 3, 4, 5})
local actor = cil.TanhNormalActor(O, A, {256, 256, 256}, {rng = cil.rng(2)})
local starts = (cil.randn(cil.rng(3), 100000, O) * 0.5):persist()
local buffer = cil.ReplayBuffer(1000000, O, A)
local mean, std = cil.zeros(O):persist(), cil.ones(O):persist()
local rng = cil.rng(4)
local function rollout()
  cil.reset()
  local s = starts:index_select(1, cil.randint(rng, 1, 100000, N))
  local r = cil.rollout.run(dyn, actor, s, {horizon = H, rng = rng, buffer = buffer, env = "hopper",
    mean = mean, std = std, sticky = true, continue = "bounded", penalty = true,
    reward = function(st) return st.reward - st.pen end})
  return r.rows
end
-- rows per second: one warm-up rollout, then the median of 5 timed blocks (each at least one rollout)
rollout()
local rates = {}
for k = 1, 5 do
  local n, t0 = 0, cil.sys.clock()
  repeat n = n + rollout() until cil.sys.clock() - t0 > seconds / 5
  rates[k] = n / (cil.sys.clock() - t0)
end
table.sort(rates)
local flop = B.lin({O, 256, 256, 256, 2 * A}, 1, function() return 1 end)
  + E * B.lin({O + A, 200, 200, 200, 2 * (O + 1)}, 1, function() return 1 end)
B.emit("model_rollout", threads, rates[3], rates[1], rates[5], flop)
