-- Memory stays flat: intermediate tensors are freed by cil.reset(), not by Lua's GC.
local cil = require "cleanil"

describe("memory", function()
  it("20,000 forward+backward updates of a 3x256 MLP grow RSS by < 5 MB after warm-up", function()
    cil.manual_seed(1)
    local net = cil.nn.MLP(11, {256, 256, 256}, 3)
    local opt = cil.optim.Adam(net:parameters(), {lr = 1e-4})
    local x = cil.randn(32, 11):persist()
    local function update()
      cil.reset()
      local loss = net(x):square():mean()
      opt:zero_grad()
      loss:backward()
      opt:step()
    end
    for _ = 1, 1000 do update() end
    collectgarbage("collect")
    local rss0 = cil.sys.rss_bytes()
    local _, cap0 = cil.arena_info()
    for _ = 1, 20000 do update() end
    local rss1 = cil.sys.rss_bytes()
    local _, cap1 = cil.arena_info()
    local growth = (rss1 - rss0) / 2^20
    print(string.format("\nRSS growth over 20,000 updates: %.2f MB (arena %d -> %d bytes)", growth, cap0, cap1))
    if os.getenv("CLEANIL_SANITIZER") then
      print("sanitizer build: AddressSanitizer quarantines freed blocks, so RSS is not checked here")
    else
      assert.is_true(growth < 5, string.format("RSS grew by %.2f MB", growth))
    end
    assert.are.equal(cap0, cap1)
  end)
end)
