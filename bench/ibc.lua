-- One IBC iteration: algorithms/ibc.lua's own step (actor against the energy with alpha tuned, then
-- InfoNCE over 5 candidates per row and the GP on 1024 rows) on hopper's shipped demonstrations --
-- the work of bench/torch_ibc.py.
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
IBC_TEST = true
arg = B.precision_args({"--env=hopper", "--threads=" .. threads, "--out=" .. os.tmpname() .. "-bench"})
local P = dofile(CLEANIL_LUA_DIR .. "/algorithms/ibc.lua")
local rate, lo, hi = B.measure(function() cil.reset(); P.step() end, seconds)
-- FLOPs as algorithms.md §7 counts them (see bench/iqlearn.lua)
local Ad, Rd = {11, 256, 256, 256, 6}, {14, 256, 256, 256, 1}
local fwd, full = function() return 1 end, function(i) return i == 1 and 2 or 3 end
local flop = B.lin(Ad, 256, full) + B.lin(Rd, 256, function() return 2 end)      -- actor through R
  + B.lin(Ad, 256, fwd) + B.lin(Rd, 1280, full)                                  -- candidates, InfoNCE
  + B.lin(Rd, 1024, function() return 2 end) + 2 * B.lin(Rd, 1024, function() return 3 end) -- GP
B.emit("ibc_iter", threads, rate, lo, hi, flop)
os.execute("rm -rf '" .. arg[3]:sub(7) .. "'")
