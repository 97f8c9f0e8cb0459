-- The default demo: behaviour cloning from cleanil's shipped expert demonstrations (the demo preset:
-- 30,000 updates on 2 threads, about a minute), then its learning curve on the D4RL-normalized scale
-- beside the demonstrator's level and the reference library's BC score.
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
local dir = "runs/demo-bc-" .. env
print(string.format("cleanil demo: BC on %s from data/%s/expert.h5 (demo preset: 30,000 updates, 2 threads)", env, env))
local t0 = cil.sys.clock()
arg = {[0] = "algorithms/bc.lua", "--env=" .. env, "--preset=demo", "--out=" .. dir}
dofile(CLEANIL_LUA_DIR .. "/algorithms/bc.lua")
local secs = cil.sys.clock() - t0
-- the curve: D4RL-normalized evaluation score, the demonstrator's level, the reference's BC score
local demo = cil.run.demo_return(cil.data_path(env, "expert.h5"))
local ref = cil.reference_scores.bc[env]
arg = {dir, "--y=eval_score", "--out=" .. dir .. "/curve.png", "--title=BC on " .. env .. " (cleanil demo)",
  string.format("--line=%.2f:our demonstrator (%.1f)", cil.env.normalized_score(env, demo), cil.env.normalized_score(env, demo)),
  string.format("--line=%.2f:reference BC, D4RL data (%.2f)", ref[1], ref[1])}
local ok, err = pcall(dofile, CLEANIL_LUA_DIR .. "/tools/plot.lua")
print(string.format("\ndemo finished in %.0f s. Its files:", secs))
print("  log        " .. dir .. "/log.csv (and TensorBoard events in " .. dir .. ")")
print("  curve      " .. (ok and (dir .. "/curve.png") or ("not drawn: " .. tostring(err))))
print("  policy     " .. dir .. "/policy.h5")
print("  headline   " .. dir .. "/summary.json")
