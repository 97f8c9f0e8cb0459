-- One BC update (algorithms.md §4.1): actor 11 -> [256]x3 -> TanhNormal(3), -mean log pi(a_E|o),
-- clip 1000, Adam; batch 256 sampled from an 18k-row dataset -- the work of bench/torch_bc.py.
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
cil.set_num_threads(threads)
cil.manual_seed(0)
local N, O, A, BS = 18000, 11, 3, 256
local obs, act = cil.randn(N, O):persist(), cil.randn(N, A):tanh():persist()
local actor = cil.TanhNormalActor(O, A)
local params = actor:parameters()
local opt = cil.optim.Adam(params, {lr = 3e-4})
local rng = cil.rng(1)
local function step()
  cil.reset()
  local idx = cil.randint(rng, 1, N, BS)
  local d = actor(obs:index_select(1, idx))
  local loss = -d:log_prob(act:index_select(1, idx)):mean()
  opt:zero_grad(); loss:backward()
  cil.optim.clip_grad_norm(params, 1000); opt:step()
  return loss:item()
end
local rate, lo, hi = B.measure(step, seconds)
B.emit("bc_update", threads, rate, lo, hi, B.lin({O, 256, 256, 256, 2 * A}, BS, function(i) return i == 1 and 2 or 3 end))
