-- SAC: soft actor-critic on a MuJoCo task, as the reference runs it (algorithms.md §2.4, §2.8).
-- Also the maker of cleanil's data: it saves every transition so far as the medium-replay dataset
-- the first time the evaluation return reaches `medium_return`; its actor is the expert.
--   cleanil algorithms/sac.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("sac", arg, "soft actor-critic (the RL solver of GAIL and the IRL methods)")
if not cfg then return end -- --help
local spec = cil.env.spec(cfg.env)
local sac = cil.SAC(spec.obs_dim, spec.act_dim, cfg, rng)
local medium_saved = false
local loop = cil.online.Loop(run, cfg, rng)

loop:train{
  actor = sac.actor,
  -- one SAC update on a batch of the agent's own transitions
  learn = function() return sac:update(loop:sample(cfg.batch_size)) end,
  extra_state = function() return {sac = sac:state(), medium_saved = medium_saved} end,
  load_extra = function(s) sac:load_state(s.sac); medium_saved = s.medium_saved end,
  on_eval = function(mean, S)
    if cfg.medium_return > 0 and not medium_saved and mean >= cfg.medium_return then
      local dir = cfg.data_dir ~= "" and cfg.data_dir or (run.dir .. "/data")
      cil.run.mkdir_p(dir)
      local n = loop:export_d4rl(dir .. "/medium_replay.h5",
        {algorithm = "SAC", iteration = S.step, source = "cleanil algorithms/sac.lua"})
      cil.checkpoint.save(dir .. "/medium_policy.h5", {actor = sac.actor:state_dict(), step = S.step})
      print(string.format("[sac %s] eval return %.1f reached the medium level: saved %d transitions to %s",
        cfg.env, mean, n, dir))
      medium_saved = true
    end
  end,
}

cil.checkpoint.save(run.dir .. "/policy.h5", {actor = sac.actor:state_dict(), step = loop.S.step})
cil.run.finish(run, loop.S.evals, nil, loop)
