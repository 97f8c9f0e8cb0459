-- Forward + backward of an MLP 11 -> 256 -> 256 -> 256 -> 3 (SiLU) at batch 256, loss = sum(y^2),
-- gradients into the weights only (as the PyTorch baseline bench/torch_mlp.py).
-- usage: cleanil bench/mlp.lua [threads] [seconds]
local threads, seconds = tonumber(arg[1] or 1), tonumber(arg[2] or 3)
cil.set_num_threads(threads)
cil.manual_seed(0)
local net = cil.nn.MLP(11, {256, 256, 256}, 3)
local x = cil.randn(256, 11):persist()
local B, flop = 256, 0
local sizes = {11, 256, 256, 256, 3}
for i = 1, 4 do
  local mk = sizes[i] * sizes[i + 1]
  flop = flop + 2 * B * mk * (i == 1 and 2 or 3) -- fwd + weight grad (+ input grad after layer 1)
end
local function update()
  cil.reset()
  net:zero_grad()
  local y = net(x)
  ;(y * y):sum():backward()
end
for _ = 1, 20 do update() end
local n, t0 = 0, cil.sys.clock()
repeat
  for _ = 1, 10 do update() end
  n = n + 10
until cil.sys.clock() - t0 > seconds
local rate = n / (cil.sys.clock() - t0)
local roof = cil.sys.sgemm_gflops(256, 256, 256, 1.0)
print(string.format('{"bench": "mlp_fwd_bwd", "impl": "cleanil", "threads": %d, "per_s": %.2f, "gflops": %.2f, "sgemm_gflops": %.2f, "roofline_fraction": %.3f}',
  threads, rate, rate * flop / 1e9, roof, rate * flop / 1e9 / roof))
