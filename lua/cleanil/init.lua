-- cleanil: the engine (C, module "cleanil.core") plus the small Lua helpers all algorithms share.
local cil = require "cleanil.core"

cil.version = CLEANIL_VERSION
cil.nn = require("cleanil.nn")(cil)
cil.dist = require("cleanil.dist")(cil)
require("cleanil.data")(cil)
require("cleanil.actor")(cil)
cil.SACLearner = require("cleanil.sac")(cil)
cil.tensorboard = require("cleanil.tensorboard")(cil)
cil.run = require("cleanil.run")(cil)
cil.online = require("cleanil.online")(cil)
require("cleanil.reward")(cil)
require("cleanil.dynamics")(cil)

cil.root = CLEANIL_LUA_DIR .. "/.."
-- path of a shipped data file: data/<env>/<file>
function cil.data_path(env, file) return cil.root .. "/data/" .. env .. "/" .. file end

return cil
