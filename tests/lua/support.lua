-- Helpers the specs share (not a spec itself: ctest runs only *_spec.lua).
local assert = require "luassert"
local M = {}

-- run a shell command; returns its output (stdout and stderr), whether it exited with status 0, and its
-- exit status (or signal number)
function M.sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok == true, code
end

-- The text of a log.csv with its timing column removed: steps_per_s is measured over the console's
-- print interval, so it is 0 in a run shorter than that interval and a wall-clock rate otherwise (a slow
-- build such as ASan's crosses the interval where a release build does not). Everything else a run logs
-- is a result and must be equal between a resumed and an uninterrupted run.
function M.log_without_timing(path)
  local f = assert(io.open(path))
  local header = f:read("l")
  local names, drop = {}, nil
  for name in (header .. ","):gmatch("([^,]*),") do
    names[#names + 1] = name
    if name == "steps_per_s" then drop = #names end
  end
  local out = {}
  for line in (header .. "\n" .. f:read("a")):gmatch("[^\n]+") do
    local fields, i = {}, 0
    for v in (line .. ","):gmatch("([^,]*),") do
      i = i + 1
      if i ~= drop then fields[#fields + 1] = v end
    end
    out[#out + 1] = table.concat(fields, ",")
  end
  f:close()
  return table.concat(out, "\n") .. "\n"
end

-- assert that two runs logged the same results (every column but the timing, every row, same order)
function M.assert_same_log(a, b)
  assert.are.equal(M.log_without_timing(a), M.log_without_timing(b))
end

-- An algorithm script's pieces: with its hook (ALGO_TEST) set, a script returns its parts instead of
-- training. `args` is its command line (a list of "--key=value" strings).
function M.pieces(algo, args)
  local hook = algo:upper() .. "_TEST"
  _G[hook] = true
  local saved = _G.arg
  _G.arg = args
  local ok, t = pcall(dofile, CLEANIL_LUA_DIR .. "/algorithms/" .. algo .. ".lua")
  _G.arg, _G[hook] = saved, nil
  if not ok then error(t, 0) end
  return t
end

return M
