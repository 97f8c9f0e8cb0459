-- Make data/<env>/medium_expert.h5 (D4RL's *-medium-expert-v2: the medium policy's data, then the
-- expert's) from the shipped medium_policy.h5 and expert_policy.h5, and compare it with the recorded
-- figures of the shipped version (data/<env>/medium_expert.lua). Algorithms that need the file make
-- it the same way on first use (lua/cleanil/shipped.lua).
--   cleanil tools/medium_expert.lua --env=hopper [--rows=1000000] [--seed=7] [--out=FILE] [--record]
-- --record writes the figures of this run as the record (when the shipped policies change).
local cil = require "cleanil"
local opt = {env = "", rows = tostring(cil.shipped.ME_ROWS), seed = tostring(cil.shipped.ME_SEED),
  envs = tostring(cil.shipped.ME_ENVS), out = "", record = "false"}
for _, a in ipairs(arg) do
  local k, v = a:match("^%-%-([%w_]+)=?(.*)$")
  if not k or opt[k] == nil then error("medium_expert: unknown argument " .. a .. " (see the header of tools/medium_expert.lua)", 0) end
  opt[k] = v == "" and "true" or v
end
if opt.env == "" then error("medium_expert: --env=NAME is required", 0) end
local function int(k)
  local n = math.tointeger(tonumber(opt[k]))
  if not n or n < 1 then error(("medium_expert: --%s must be a positive integer, got %s"):format(k, opt[k]), 0) end
  return n
end
local rows, seed, envs = int("rows"), int("seed"), int("envs")
local out = opt.out ~= "" and opt.out or cil.data_path(opt.env, "medium_expert.h5")
local t0 = cil.sys.clock()
local f = cil.shipped.make_medium_expert(opt.env, out, {rows = rows, seed = seed, envs = envs, progress = true})
local secs = cil.sys.clock() - t0
for _, name in ipairs({"medium", "expert"}) do
  local s = f[name]
  print(string.format("%s part: %d complete episodes, return %.1f +- %.1f (D4RL %.1f)", name, s.episodes,
    s.return_mean, s.return_std, cil.env.normalized_score(opt.env, s.return_mean)))
end
print(string.format("%s: %d rows in %.0f s", out, f.rows, secs))
if opt.record == "true" then
  local path = cil.data_path(opt.env, "medium_expert.lua")
  local h = assert(io.open(path, "w"))
  h:write("-- figures of the shipped data/", opt.env, "/medium_expert.h5 (tools/medium_expert.lua --record)\nreturn ",
    cil.run.serialize(f), "\n")
  h:close()
  print("recorded in " .. path)
else
  local rec = cil.shipped.medium_expert_record(opt.env)
  if not rec then
    print("no record to compare with (make one with --record)")
  elseif rec.rows ~= f.rows or rec.seed ~= f.seed or rec.envs ~= f.envs then
    -- the record is of the shipped file's size, seed and envs: another make is not compared with it
    print(string.format("not compared with the record (it is of %d rows, seed %s, %s envs; this file: %d rows, seed %s, %s envs)",
      rec.rows, tostring(rec.seed), tostring(rec.envs), f.rows, tostring(f.seed), tostring(f.envs)))
  else
    local ok, why = cil.shipped.check_medium_expert(opt.env, f)
    print(ok and "matches the record" or ("DIFFERS from the record: " .. why))
    if not ok then os.exit(1) end
  end
end
