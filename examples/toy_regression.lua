-- A first cleanil script: fit a small MLP to y = tanh(3x) + x^2/2 with Adam and watch the loss fall.
-- run: cleanil examples/toy_regression.lua
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
