-- The cost of subnormal operands (engine/core/fpenv.c): a 256 x 256 x 256 product with normal inputs,
-- then with inputs of about 1e-39, with subnormals flushed (the default) and kept.
--   build/cleanil bench/subnormal.lua [reps]
local cil = require "cleanil"
local reps = tonumber(arg and arg[1]) or 200
local function ms(a, b)
  a:matmul(b)
  local t0 = cil.sys.clock()
  for _ = 1, reps do a:matmul(b) end
  return (cil.sys.clock() - t0) / reps * 1e3
end
local rng = cil.rng(1)
local b = cil.randn(rng, 256, 256):persist()
local a = cil.randn(rng, 256, 256):persist()
for _, flush in ipairs({true, false}) do
  cil.sys.flush_subnormals(flush)
  local tiny = (cil.randn(rng, 256, 256) * 1e-39):persist() -- made under the setting measured
  local n, s = ms(a, b), ms(tiny, b)
  print(("flush_subnormals=%-5s  normal %.3f ms  subnormal inputs %.3f ms  (x%.1f)"):format(tostring(flush), n, s, s / n))
end
cil.sys.flush_subnormals(true)
