-- Forward + backward of an MLP 11 -> 256 -> 256 -> 256 -> 3 (SiLU) at batch 256, loss = sum(y^2),
-- gradients into the weights only -- the work of bench/torch_mlp.py.
-- usage: cleanil bench/mlp.lua [threads] [seconds]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
cil.set_num_threads(threads)
cil.manual_seed(0)
local net = cil.nn.MLP(11, {256, 256, 256}, 3)
local x = cil.randn(256, 11):persist()
local function step()
  cil.reset()
  net:zero_grad()
  local y = net(x)
  ;(y * y):sum():backward()
end
local rate, lo, hi = B.measure(step, seconds)
-- fwd + weight grad everywhere, input grads after the first layer
B.emit("mlp_fwd_bwd", threads, rate, lo, hi, B.lin({11, 256, 256, 256, 3}, 256, function(i) return i == 1 and 2 or 3 end))
