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
require("cleanil.offline")(cil)
require("cleanil.awr")(cil)
require("cleanil.reward")(cil)
require("cleanil.dynamics")(cil)
require("cleanil.rollout")(cil)
require("cleanil.adversarial")(cil)
require("cleanil.mbirl")(cil)
require("cleanil.mbrl")(cil)
require("cleanil.policy")(cil)
require("cleanil.shipped")(cil)
require("cleanil.reference")(cil)

cil.root = CLEANIL_LUA_DIR .. "/.."
-- path of a shipped data file: data/<env>/<file>
function cil.data_path(env, file) return cil.root .. "/data/" .. env .. "/" .. file end

-- a short tour, printed by help() in the REPL
function cil.help()
  print([[
cleanil: tensors with autograd, networks, MuJoCo environments, datasets (the module is `cil`).
  x = cil.randn(4, 3)               tensors: cil.tensor{...}, zeros, ones, rand, arange, param(...)
  y = (x * 2):silu():sum(2)         ops: + - * / ^, exp log tanh silu relu clamp, sum mean max, matmul, cat
  w = cil.param(cil.randn(3, 1))    a persistent leaf that takes gradients
  l = x:matmul(w):square():mean(); l:backward(); print(w.grad)
  g = cil.grad(l, w, {create_graph = true})      torch.autograd.grad semantics
  net = cil.nn.MLP(11, {256, 256}, 3)            nn: Linear, MLP, EnsembleMLP, DoubleQ, TanhNormalActor
  opt = cil.optim.Adam(net:parameters(), {lr = 3e-4})
  env = cil.env.make("hopper"); obs = env:reset(); obs, r, term, trunc = env:step(cil.zeros(1, 3))
  d = cil.data.load_d4rl("data/hopper/medium_replay.h5")
  cil.reset()                       frees every tensor made since the last reset (do it once per update)

Docs: docs/api.md (every function and method, with shapes) and docs/new-algorithm.md (writing an
algorithm step by step, on SQIL) in the docs/ folder of the cleanil sources.

Algorithms: cleanil algorithms/<name>.lua --help | --env=hopper [--preset=quick] [--resume]
  sac             soft actor-critic (the RL solver of the methods below)
  bc              behaviour cloning (tanh-Gaussian likelihood)
  dagger          interactive imitation: roll out, label with the expert policy, aggregate, refit BC
  ibc             implicit behaviour cloning (energy model + SAC-style sampler)
  iqlearn         offline IQ-Learn (chi^2 inverse soft-Q + an AWR actor)
  recoil          RECOIL: imitation from demonstrations and suboptimal data
  recoil_online   RECOIL with the agent's own replay
  gail            adversarial imitation (Wasserstein-style critic, gradient penalty), SAC policy
  sqil            soft Q imitation: SAC with reward 1 on expert rows, 0 on own rows
  airl            adversarial inverse RL (shaped discriminator g + gamma h' - h), SAC policy
  omlirl          offline model-based ML-IRL (MOPO-style solver)
  rmirl           robust model-based IRL (RAMBO-style adversarial model)
  rmirl_implicit  RMIRL with a Q-parameterized (implicit) reward
  mbpo            model-based policy optimization (online)
  mopo            offline RL through an uncertainty-penalized model
  rambo           offline RL through an adversarially trained model
  ensemble        dynamics-ensemble pretraining (what the model-based methods start from)]])
end

return cil
