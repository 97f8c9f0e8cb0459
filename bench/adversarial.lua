-- One adversarial model step (algorithms.md §3.6, §4.8): algorithms/rmirl.lua's own update on hopper's
-- shipped medium-replay ensemble (5 elites, no reward head) and data, S = 100 steps timed as a whole
-- (the 30,720 sampled SL rows and the scaler refit, 100 steps of stochastic actor -> model step ->
-- advantage (R, online Q, a' ~ pi) -> 0.05 L_adv + L_SL, clip 1000, Adam 1e-4, the held-out MAE at the
-- end); per_s = S / seconds. Mode "rambo": algorithms/rambo.lua's update (5 elites with the reward
-- head, deterministic actions, A = r^ + (1 - d) gamma min Q' - min Q) on hopper's medium-replay model
-- and data in place of the medium-expert ones (same sizes), also with S = 100 (the real S = 1000
-- samples 307,200 rows: the same share per step).
-- The work of bench/torch_adversarial.py [--rambo].   cleanil bench/adversarial.lua [threads] [seconds] [rambo]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads = B.args()
local rambo = arg[3] == "rambo"
local out = os.tmpname() .. "-bench"
local S = 100
arg = B.precision_args({"--env=hopper", "--threads=" .. threads, "--out=" .. out, "--adv_steps=" .. S})
if rambo then arg[#arg + 1] = "--dataset=medium_replay" end
_G[rambo and "RAMBO_TEST" or "RMIRL_TEST"] = true
local P = dofile(CLEANIL_LUA_DIR .. "/algorithms/" .. (rambo and "rambo" or "rmirl") .. ".lua")
P.step(0)                                    -- a rollout and a policy step first, as in a run
P.adversarial_update()                       -- warm-up
local rates = {}
for k = 1, 3 do
  local t0 = cil.sys.clock()
  P.adversarial_update()
  rates[k] = S / (cil.sys.clock() - t0)
end
table.sort(rates)
-- FLOPs per step (as we run them): actor fwd 256 + advantage (actor on ô', both Q on two inputs, R) +
-- model sample fwd (5 x 256) + mixture likelihood fwd+bwd (5 x 256) + SL fwd+bwd (5 x 256)
local O, A, BS = 11, 3, 256
local D = rambo and O + 1 or O
local fwd, full = function() return 1 end, function(i) return i == 1 and 2 or 3 end
local Ad, Qd = {O, 256, 256, 256, 2 * A}, {O + A, 256, 256, 256, 1}
local flop = 2 * B.lin(Ad, BS, fwd) + 4 * B.lin(Qd, BS, fwd) + (rambo and 0 or B.lin(Qd, BS, fwd))
  + B.ens_flop(O, A, D, 5, BS) + 2 * B.ens_flop(O, A, D, 5, BS, full)
B.emit(rambo and "adv_model_step_rambo" or "adv_model_step", threads, rates[2], rates[1], rates[3], flop)
os.execute("rm -rf '" .. out .. "'")
