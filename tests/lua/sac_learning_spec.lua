-- SAC learns: a short seeded run of the quick preset on Hopper (one thread) must raise the
-- evaluation return well above what the untrained policy gets.
local cil = require "cleanil"
local BIN = os.getenv("CLEANIL_BIN") or "build/cleanil"

describe("SAC on Hopper", function()
  it("the quick preset improves the evaluation return by > 100 within 15,000 steps", function()
    local dir = os.tmpname()
    os.remove(dir)
    local f = io.popen(string.format("%s algorithms/sac.lua --env=hopper --preset=quick --epochs=14 --seed=0 --threads=1 --out=%s --print_every_s=60 2>&1", BIN, dir))
    local out = f:read("a")
    assert.is_true(f:close() == true, out)
    local rows = cil.run.read_log(dir .. "/log.csv").eval_return
    assert.are.equal(14, #rows)
    local first = rows[1]
    local last = (rows[#rows] + rows[#rows - 1] + rows[#rows - 2]) / 3
    print(string.format("\neval return: first %.1f, mean of the last three %.1f", first, last))
    assert.is_true(last > first + 100, string.format("first %.1f, last three %.1f", first, last))
    os.execute("rm -rf " .. dir)
  end)
end)
