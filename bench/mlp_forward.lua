-- No-gradient MLP passes on many rows, layer by layer against cil.mlp_forward's row blocks
-- (engine/core/mlp_forward.c), in float32 and bfloat16: the two networks of a model rollout at hopper
-- sizes -- the 7-member ensemble [14 -> 200 x 3 -> 24] and the actor [11 -> 256 x 3 -> 6] -- on 5000 rows.
-- Both paths give the same bits (tests/lua/mlp_forward_spec.lua); only the time differs. No PyTorch
-- counterpart of its own: bench/rollout.lua beside bench/torch_rollout.py is the whole rollout.
-- usage: cleanil bench/mlp_forward.lua [threads] [seconds]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
cil.set_num_threads(threads)
local N = 5000
local nets = {
  {name = "ensemble", kind = "ensemble", E = 7, sizes = {14, 200, 200, 200, 24}},
  {name = "actor", kind = "linear", E = 1, sizes = {11, 256, 256, 256, 6}},
}
local _, _, bf16 = cil.precision()
for _, net in ipairs(nets) do
  local g = cil.rng(1)
  local ws, bs = {}, {}
  for i = 1, #net.sizes - 1 do
    local a, b = net.sizes[i], net.sizes[i + 1]
    local shape_w = net.kind == "ensemble" and {net.E, a, b} or {b, a}
    local shape_b = net.kind == "ensemble" and {net.E, 1, b} or {b}
    ws[i] = (cil.randn(g, table.unpack(shape_w)) * (1 / math.sqrt(a))):persist()
    bs[i] = (cil.randn(g, table.unpack(shape_b)) * 0.1):persist()
  end
  local x = cil.randn(g, N, net.sizes[1]):persist()
  local function layered()
    local h = x
    for i = 1, #ws do
      if net.kind == "ensemble" then
        h = i < #ws and cil.ensemble_linear(h, ws[i], bs[i], "silu") or cil.ensemble_linear(h, ws[i], bs[i])
      else
        h = cil.linear(h, ws[i], bs[i])
        if i < #ws then h = h:silu() end
      end
    end
  end
  local function blocked() cil.mlp_forward(x, ws, bs, "silu", net.kind) end
  local flop = B.lin(net.sizes, N * net.E, function() return 1 end)
  for _, prec in ipairs(bf16 and {"fp32", "bf16"} or {"fp32"}) do
    cil.set_precision(prec)
    local rate = {}
    for _, p in ipairs({{"layered", layered}, {"blocked", blocked}}) do
      rate[p[1]] = cil.no_grad(function()
        return B.measure(function() p[2](); cil.reset() end, seconds)
      end)
    end
    print(string.format('{"bench": "mlp_forward", "net": "%s", "threads": %d, "precision": "%s", "rows": %d, '
      .. '"layered_gflops": %.1f, "blocked_gflops": %.1f, "blocked_over_layered": %.3f}', net.name, threads, prec,
      N, rate.layered * flop / 1e9, rate.blocked * flop / 1e9, rate.blocked / rate.layered))
  end
end
cil.set_precision("fp32")
