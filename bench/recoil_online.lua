-- One RECOIL-online update: algorithms/recoil_online.lua's own update (critic with IBC, CD, TD and the
-- two-net gradient penalty on the clipped Q, then the actor, polyak) on hopper's shipped demonstrations
-- and a replay buffer of 100k random rows -- the work of bench/torch_recoil_online.py.
--   cleanil bench/recoil_online.lua [threads] [seconds]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
RECOIL_ONLINE_TEST = true
local out = os.tmpname() .. "-bench"
arg = B.precision_args({"--env=hopper", "--threads=" .. threads, "--out=" .. out})
local P = dofile(CLEANIL_LUA_DIR .. "/algorithms/recoil_online.lua")
local N, O, A = 100000, 11, 3
P.loop.buffer:add(cil.randn(N, O), cil.rand(N, A) * 1.6 - 0.8, cil.zeros(N, 1), cil.randn(N, O),
  cil.rand(N, 1):lt(0.001))
local rate, lo, hi = B.measure(function() cil.reset(); P.update() end, seconds)
-- FLOPs as algorithms.md §7 counts them. Rows: 128 expert (E) + 128 replay (T); D = E u T. Critic input
-- [o, a, f] (15 wide); the GP's ends are the same rows, so it runs on 256 rows.
local Ad, Qd = {11, 256, 256, 256, 6}, {15, 256, 256, 256, 1}
local fwd, full, fi = function() return 1 end, function(i) return i == 1 and 2 or 3 end, function() return 2 end
local flop = 2 * B.lin(Ad, 128, fwd) + B.lin(Ad, 256, fwd) + 2 * B.lin(Qd, 256, fwd) -- a~_E, a~_T, a', Qbar
  + 2 * B.lin(Qd, 128 * 3 + 256, full)                                               -- Q on E (a_E, a~_E), T, D
  + 2 * (B.lin(Qd, 256, fi) + 2 * B.lin(Qd, 256, function() return 3 end))           -- GP, double backward
  + B.lin(Ad, 256, full) + 2 * B.lin(Qd, 256, fi)                                    -- actor through min Q
B.emit("recoil_online_update", threads, rate, lo, hi, flop)
os.execute("rm -rf '" .. out .. "'")
