-- One RECOIL iteration: algorithms/recoil.lua's own step (critic with CD, TD, the expert target and the
-- hinge, then the AWR actor, polyak) on hopper's shipped demonstrations and medium-replay data -- the
-- work of bench/torch_recoil.py. Mode "gp" adds the two-net gradient penalty (weight 10, as on
-- halfcheetah: the double-backward case).
--   cleanil bench/recoil.lua [threads] [seconds] [gp]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
local gp = arg[3] == "gp"
RECOIL_TEST = true
local out = os.tmpname() .. "-bench"
arg = B.precision_args({"--env=hopper", "--threads=" .. threads, "--out=" .. out, "--grad_penalty=" .. (gp and 10 or 0)})
local P = dofile(CLEANIL_LUA_DIR .. "/algorithms/recoil.lua")
local rate, lo, hi = B.measure(function() cil.reset(); P.step() end, seconds)
-- FLOPs as algorithms.md §7 counts them (fwd 1 pass, + weight grads, + input grads but the first
-- layer's). Rows: 128 expert (E) + 128 transition (T); D = E u T.
local Ad, Qd = {11, 256, 256, 256, 6}, {15, 256, 256, 256, 1}
local fwd, full, fi = function() return 1 end, function(i) return i == 1 and 2 or 3 end, function() return 2 end
local flop = B.lin(Ad, 128, fwd) + B.lin(Ad, 256, fwd) + 2 * B.lin(Qd, 256, fwd) -- a~_T, a', Qbar
  + 2 * B.lin(Qd, 512, full)                                                     -- Q on E, T (a~), D
  + B.lin(Ad, 256, fwd) + 4 * B.lin(Qd, 256, fwd) + B.lin(Ad, 256, full)         -- AWR actor
if gp then flop = flop + 2 * (B.lin(Qd, 128, fi) + 2 * B.lin(Qd, 128, function() return 3 end)) end
B.emit(gp and "recoil_iter_gp" or "recoil_iter", threads, rate, lo, hi, flop)
os.execute("rm -rf '" .. out .. "'")
