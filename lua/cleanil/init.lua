-- cleanil: the engine (C, module "cleanil.core") plus the small Lua helpers all algorithms share.
local cil = require "cleanil.core"

cil.version = CLEANIL_VERSION
cil.nn = require("cleanil.nn")(cil)
cil.dist = require("cleanil.dist")(cil)
require("cleanil.actor")(cil)

return cil
