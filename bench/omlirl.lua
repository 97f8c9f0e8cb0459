-- One OMLIRL iteration with its amortized share of rollouts and reward steps (algorithms.md §4.7, §7):
-- algorithms/omlirl.lua's own step on hopper's shipped medium-replay ensemble and data. Two parts,
-- timed apart and combined as a run meets them:
--   policy: blocks of 10 iterations (128 transition + 128 model rows, r = R(ô, a) - lambda pen, the SAC
--           update with its Q clip), the 10th with the reward step (256 expert vs 256 model rows + GP)
--   rollout: 5000 starts x 40 steps (7 members, penalty, sticky termination, lambda step each step,
--           |ô'| < 30 filter, into the 1e6-row model buffer), once every 250 iterations
--   per_s = 1 / (1 / policy_per_s + rollout_s / 250);  rollout_share = (rollout_s / 250) * per_s
-- The work of bench/torch_omlirl.py.   cleanil bench/omlirl.lua [threads] [seconds]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
OMLIRL_TEST = true
local out = os.tmpname() .. "-bench"
arg = B.precision_args({"--env=hopper", "--threads=" .. threads, "--out=" .. out})
local P = dofile(CLEANIL_LUA_DIR .. "/algorithms/omlirl.lua")
local every = P.cfg.rollout_every
P.step(0)                                    -- the first rollout fills the model buffer (~200k rows)
-- policy iterations t = 250 q + 1 .. 250 q + 240: never a rollout, one reward step per block of 10
local blk = 0
local function ten()
  local base = every * (blk // 24) + 10 * (blk % 24) + 1
  for t = base, base + 9 do P.step(t) end
  blk = blk + 1
end
local rate10, lo10, hi10 = B.measure(ten, seconds)
local pol, plo, phi = 10 * rate10, 10 * lo10, 10 * hi10
-- rollouts: one warm-up, then the median of 3
P.rollout()
local times = {}
for k = 1, 3 do
  local t0 = cil.sys.clock()
  P.rollout()
  times[k] = cil.sys.clock() - t0
end
table.sort(times)
local T = times[2]
local function amortized(p) return 1 / (1 / p + T / every) end
local O, A, BS = 11, 3, 256
local flop = B.sac_flop(O, A, BS) + B.lin({O + A, 256, 256, 256, 1}, BS, function() return 1 end)
  + B.reward_step_flop(O + A, BS) / 10
  + P.cfg.rollout_batch * P.cfg.horizon / every * (B.lin({O, 256, 256, 256, 2 * A}, 1, function() return 1 end)
    + B.ens_flop(O, A, O, 7, 1))
local per_s = amortized(pol)
B.emit("omlirl_iter", threads, per_s, amortized(plo), amortized(phi), flop,
  {policy_per_s = pol, rollout_s = T, rollout_share = T / every * per_s})
os.execute("rm -rf '" .. out .. "'")
