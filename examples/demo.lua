-- The default demo (for now): fit a small MLP to a toy regression; see examples/toy_regression.lua.
-- run: ./setup.sh demo   or   cleanil examples/demo.lua
local cil = require "cleanil"
cil.manual_seed(0)

-- data: persistent, so it survives cil.reset() between updates
local x = cil.uniform(-1, 1, 512, 1):persist()
local y = ((x * 3):tanh() + x:square() * 0.5):persist()

local net = cil.nn.MLP(1, {64, 64}, 1, {activation = "silu"})
local opt = cil.optim.Adam(net:parameters(), {lr = 3e-3})
print(net)

for step = 1, 1500 do
  cil.reset()                       -- free everything the previous update made
  local loss = (net(x) - y):square():mean()
  opt:zero_grad()
  loss:backward()
  opt:step()
  if step == 1 or step % 300 == 0 then
    print(string.format("step %4d   mse %.5f", step, loss:item()))
  end
end
