-- Command-line tools on small inputs made here: summarize (IQM over seeds + bootstrap CI).
local cil = require "cleanil"
local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

describe("tools/summarize.lua", function()
  local dir = os.tmpname()
  os.remove(dir)
  local runs = {}
  setup(function()
    for i, score in ipairs({10, 20, 30, 40, 1000}) do
      local d = dir .. "/run" .. i
      os.execute("mkdir -p " .. d)
      local f = assert(io.open(d .. "/summary.json", "w"))
      f:write(string.format('{"algo": "bc", "env": "hopper", "seed": %d, "last_returns": [1, 2], "d4rl_score_iqm": %g, "demo_score_iqm": %g}', i, score, score / 2))
      f:close()
      runs[i] = d
    end
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("gives the IQM over seeds and a bootstrap interval that contains it", function()
    local out, ok = sh(BIN .. " tools/summarize.lua --markdown " .. table.concat(runs, " "))
    assert.is_true(ok, out)
    -- IQM of {10, 20, 30, 40, 1000}: trim floor(5/4) = 1 each side -> mean(20, 30, 40) = 30
    local n, m, lo, hi, m2 = out:match("| bc | hopper | (%d+) | ([%d.]+) %[([%d.]+), ([%d.]+)%] | ([%d.]+)")
    assert.equal("5", n)
    assert.near(30, tonumber(m), 1e-9)
    assert.near(15, tonumber(m2), 1e-9)
    assert.is_true(tonumber(lo) <= 30 and tonumber(hi) >= 30 and tonumber(lo) >= 10 and tonumber(hi) <= 1000, out)
    assert.is_true(tonumber(lo) < tonumber(hi), out)
  end)

  it("says which run has not finished", function()
    local out, ok = sh(BIN .. " tools/summarize.lua " .. dir)
    assert.is_falsy(ok)
    assert.matches("has no summary.json", out)
  end)
end)
