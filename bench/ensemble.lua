-- One training step of the 7-member dynamics ensemble (algorithms.md §3.1-3.2), hopper sizes:
-- per-member rows from a permutation index over a 100k-row set, the Gaussian NLL with learned
-- log-variance bounds and decays, clip 1000, Adam -- the work of bench/torch_ensemble.py.
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
cil.set_num_threads(threads)
cil.manual_seed(0)
local N, O, A, E, BS = 100000, 11, 3, 7, 256
local X, Y = cil.randn(N, O + A):persist(), cil.randn(N, O + 1):persist()
local dyn = cil.EnsembleDynamics(O, A, {members = E})
dyn:fit_scaler(X)
local params = dyn:parameters()
local opt = cil.optim.Adam(params, {lr = 3e-4})
local rng = cil.rng(1)
local perm, pos = nil, N
local function step()
  cil.reset()
  if pos + BS > N then -- a fresh per-member permutation each pass
    local cols = {}
    for e = 1, E do cols[e] = cil.randperm(rng, N):reshape(1, N) end
    perm, pos = cil.cat(cols, 1):persist(), 0
  end
  local idx = perm:narrow(2, pos + 1, BS):reshape(E * BS)
  pos = pos + BS
  local x = X:index_select(1, idx):reshape(E, BS, O + A)
  local y = Y:index_select(1, idx):reshape(E, BS, O + 1)
  local loss = dyn:loss(x, y)
  opt:zero_grad(); loss:backward()
  cil.optim.clip_grad_norm(params, 1000); opt:step()
  return loss:item()
end
local rate, lo, hi = B.measure(step, seconds)
B.emit("ensemble_update", threads, rate, lo, hi, E * B.lin({O + A, 200, 200, 200, 2 * (O + 1)}, BS, function(i) return i == 1 and 2 or 3 end))
