-- One RAMBO iteration with its amortized rollouts and adversarial steps (algorithms.md §3.6, §5.4):
-- algorithms/rambo.lua's own parts on hopper's medium-replay ensemble (5 elites, reward head) and data
-- in place of the medium-expert ones (same sizes), timed apart and combined as a run meets them:
--   sac: one SAC step (Huber critic) on 128 offline + 128 model rows, every iteration
--   rollout: 5000 x 40 (stochastic actions, stored r^, d = term(ô') not sticky, |ô'| < 30), every 250
--   adversarial: 1000 steps every 1000 iterations = one step per iteration, its rate from the update
--     timed with S = 100 (as bench/adversarial.lua rambo)
--   per_s = 1 / (1 / sac_per_s + rollout_s / 250 + 1 / adv_per_s)
-- The work of bench/torch_rambo.py.   cleanil bench/rambo.lua [threads] [seconds]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
local out = os.tmpname() .. "-bench"
local S = 100
arg = B.precision_args({"--env=hopper", "--threads=" .. threads, "--out=" .. out, "--adv_steps=" .. S, "--dataset=medium_replay"})
RAMBO_TEST = true
local P = dofile(CLEANIL_LUA_DIR .. "/algorithms/rambo.lua")
local every = P.cfg.rollout_every
P.step(0)                                    -- the first rollout fills the model buffer
local t = 0
local sac, slo, shi = B.measure(function() t = t % 240 + 1; P.step(t) end, seconds)   -- never a rollout or update
local function median3(f)
  f()
  local v = {}
  for k = 1, 3 do local t0 = cil.sys.clock(); f(); v[k] = cil.sys.clock() - t0 end
  table.sort(v)
  return v[2]
end
local T = median3(P.rollout)
local adv = S / median3(P.adversarial_update)
local function amortized(p) return 1 / (1 / p + T / every + 1 / adv) end
local O, A, BS = 11, 3, 256
local fwd, full = function() return 1 end, function(i) return i == 1 and 2 or 3 end
local Ad, Qd = {O, 256, 256, 256, 2 * A}, {O + A, 256, 256, 256, 1}
local flop = B.sac_flop(O, A, BS)
  + P.cfg.rollout_batch * P.cfg.horizon / every * (B.lin(Ad, 1, fwd) + B.ens_flop(O, A, O + 1, 5, 1))
  + 2 * B.lin(Ad, BS, fwd) + 4 * B.lin(Qd, BS, fwd) + B.ens_flop(O, A, O + 1, 5, BS) + 2 * B.ens_flop(O, A, O + 1, 5, BS, full)
B.emit("rambo_iter", threads, amortized(sac), amortized(slo), amortized(shi), flop,
  {sac_per_s = sac, rollout_s = T, adv_per_s = adv})
os.execute("rm -rf '" .. out .. "'")
