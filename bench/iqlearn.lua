-- One IQ-Learn iteration: algorithms/iqlearn.lua's own step (critic with CD, TD and the two-net GP, the
-- AWR actor, polyak) on hopper's shipped demonstrations -- the work of bench/torch_iqlearn.py.
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
IQLEARN_TEST = true
arg = B.precision_args({"--env=hopper", "--threads=" .. threads, "--out=" .. os.tmpname() .. "-bench"})
local P = dofile(CLEANIL_LUA_DIR .. "/algorithms/iqlearn.lua")
local rate, lo, hi = B.measure(function() cil.reset(); P.step() end, seconds)
-- FLOPs as algorithms.md §7 counts them (fwd 1 pass, + weight grads, + input grads but the first layer's
-- unless the input needs them; a GP on n rows = fwd + recorded input grad + a backward through both)
local Ad, Qd = {11, 256, 256, 256, 6}, {14, 256, 256, 256, 1}
local fwd, full, fi = function() return 1 end, function(i) return i == 1 and 2 or 3 end, function() return 2 end
local flop = 2 * B.lin(Ad, 256, fwd) + 2 * B.lin(Qd, 256, fwd) + 2 * B.lin(Qd, 512, full)
  + 2 * (B.lin(Qd, 256, fi) + 2 * B.lin(Qd, 256, function() return 3 end))
  + 2 * B.lin(Qd, 512, fwd) + B.lin(Ad, 256, fwd) + B.lin(Ad, 256, full)
B.emit("iqlearn_iter", threads, rate, lo, hi, flop)
os.execute("rm -rf '" .. arg[3]:sub(7) .. "'")
