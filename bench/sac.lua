-- One full SAC update (algorithms.md §2.4), hopper sizes (obs 11, act 3), batch 256, sampled from a
-- 100k-row random in-memory buffer -- the same work as bench/torch_sac.py.
-- usage: cleanil bench/sac.lua [threads] [seconds]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
cil.set_num_threads(threads)
cil.manual_seed(0)
local N, O, A, BS = 100000, 11, 3, 256
local buf = {obs = cil.randn(N, O):persist(), act = (cil.rand(N, A) * 2 - 1):persist(),
  rew = cil.randn(N, 1):persist(), next_obs = cil.randn(N, O):persist(),
  done = cil.rand(N, 1):lt(0.01):persist()}
local sac = cil.SAC(O, A, {}, cil.rng(0))
local rng = cil.rng(1)
local function update()
  cil.reset()
  local idx = cil.randint(rng, 1, N, BS)
  local b = {}
  for k, t in pairs(buf) do b[k] = t:index_select(1, idx) end
  sac:update(b)
end
local rate, lo, hi = B.measure(update, seconds)
B.emit("sac_update", threads, rate, lo, hi, B.sac_flop(O, A, BS))
