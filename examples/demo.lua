-- The default demo: behaviour cloning from cleanil's shipped expert demonstrations, quick preset
-- (10,000 updates, a few minutes on one core), ending with the normalized score of the run.
-- Hopper when its demonstrations are shipped, otherwise the first task that has them.
-- run: ./setup.sh demo   or   cleanil examples/demo.lua
local cil = require "cleanil"
local env
for _, e in ipairs({"hopper", "halfcheetah", "walker2d"}) do
  if cil.run.exists(cil.data_path(e, "expert.h5")) then env = e; break end
end
if not env then
  print("no shipped demonstrations found under data/; running the toy regression example instead")
  return dofile(CLEANIL_LUA_DIR .. "/../examples/toy_regression.lua")
end
print(string.format("cleanil demo: BC on %s from data/%s/expert.h5 (quick preset)", env, env))
arg = {[0] = "algorithms/bc.lua", "--env=" .. env, "--preset=quick", "--out=runs/demo-bc-" .. env}
dofile(CLEANIL_LUA_DIR .. "/algorithms/bc.lua")
