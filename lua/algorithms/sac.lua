-- SAC: soft actor-critic on a MuJoCo task, as the reference runs it (algorithms.md §2.4, §2.8).
-- Also the maker of cleanil's data (protocol.md):
--   medium: after each evaluation, until it happens, `medium_screen` sampled-action episodes; when
--     their mean reaches `medium_level` (D4RL's medium-v2 return), `medium_episodes` more decide:
--     mean - standard error >= medium_level saves every transition so far (with infos/qpos, qvel,
--     action_log_probs) as medium_replay.h5 and the actor as medium_policy.h5;
--   expert: every checkpoint keeps its actor in policies/ and measures it on `expert_episodes`
--     sampled-action episodes (policies/index.csv: mean, std, falls) -- the expert is chosen there.
-- These episodes run on their own envs and generators (seeded by the step): training is unchanged.
--   cleanil algorithms/sac.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("sac", arg, "soft actor-critic (the RL solver of GAIL and the IRL methods)")
if not cfg then return end -- --help
local spec = cil.env.spec(cfg.env)
cfg.record_infos = cfg.medium_level > 0
local sac = cil.SAC(spec.obs_dim, spec.act_dim, cfg, rng)
local medium_saved = cfg.medium_level <= 0
local loop = cil.online.Loop(run, cfg, rng)

-- N sampled-action episodes of the current actor, seeded by (seed, step, purpose)
local envs = {}
local function sampled_returns(N, step, purpose)
  envs[N] = envs[N] or cil.env.make(cfg.env, {num_envs = N, seed = 0})
  local seed = ((cfg.seed + 1) * 1000003 + step) * 4 + purpose
  local rets, falls = cil.run.evaluate(envs[N], sac.actor, nil, {rng = cil.rng(seed), seed = seed})
  local mean, sd = cil.run.mean_std(rets)
  return mean, sd, falls, rets
end

local pdir = run.dir .. "/policies"
local index = pdir .. "/index.csv"
if cfg.expert_episodes > 0 then
  cil.run.mkdir_p(pdir)
  local keep = {"step,return_mean,return_std,return_min,falls,episodes,d4rl_score"}
  local f = io.open(index)
  if f then -- a resumed run measures its later checkpoints again
    for line in f:lines() do
      local s = tonumber(line:match("^(%d+),"))
      if s and s <= loop.S.step then keep[#keep + 1] = line end
    end
    f:close()
  end
  if not run.resuming then keep = {keep[1]} end
  local out = assert(io.open(index, "w"))
  out:write(table.concat(keep, "\n"), "\n")
  out:close()
end

loop:train{
  actor = sac.actor,
  -- one SAC update on a batch of the agent's own transitions
  learn = function() return sac:update(loop:sample(cfg.batch_size)) end,
  extra_state = function() return {sac = sac:state(), medium_saved = medium_saved} end,
  load_extra = function(s) sac:load_state(s.sac); medium_saved = s.medium_saved end,
  on_eval = function(_, S)
    if medium_saved then return end
    local screen = sampled_returns(cfg.medium_screen, S.step + 1, 1)
    if screen < cfg.medium_level then return end
    local mean, sd, falls = sampled_returns(cfg.medium_episodes, S.step + 1, 2)
    print(string.format("[sac %s] step %d: medium check, %d sampled episodes %.1f +- %.1f (%d fall), level %.0f",
      cfg.env, S.step + 1, cfg.medium_episodes, mean, sd, falls, cfg.medium_level))
    if mean - sd / math.sqrt(cfg.medium_episodes) < cfg.medium_level then return end
    local dir = cfg.data_dir ~= "" and cfg.data_dir or (run.dir .. "/data")
    cil.run.mkdir_p(dir)
    local n = loop:export_d4rl(dir .. "/medium_replay.h5", {algorithm = "SAC", iteration = S.step + 1,
      source = "cleanil algorithms/sac.lua --env=" .. cfg.env .. " --seed=" .. cfg.seed})
    cil.checkpoint.save(dir .. "/medium_policy.h5", {actor = sac.actor:state_dict(), step = S.step + 1,
      sampled_return_mean = mean, sampled_return_std = sd, sampled_episodes = cfg.medium_episodes})
    print(string.format("[sac %s] medium level reached at step %d: saved %d transitions to %s",
      cfg.env, S.step + 1, n, dir))
    loop:drop_infos()
    medium_saved = true
  end,
  on_checkpoint = function(S)
    if cfg.expert_episodes <= 0 then return end
    cil.checkpoint.save(string.format("%s/actor-%07d.h5", pdir, S.step), {actor = sac.actor:state_dict(), step = S.step})
    local mean, sd, falls, rets = sampled_returns(cfg.expert_episodes, S.step, 3)
    local lo = math.huge
    for _, R in ipairs(rets) do lo = math.min(lo, R) end
    local f = assert(io.open(index, "a"))
    f:write(string.format("%d,%.2f,%.2f,%.2f,%d,%d,%.2f\n", S.step, mean, sd, lo, falls, #rets,
      cil.env.normalized_score(cfg.env, mean)))
    f:close()
  end,
}

cil.checkpoint.save(run.dir .. "/policy.h5", {actor = sac.actor:state_dict(), step = loop.S.step})
cil.run.finish(run, loop.S.evals, nil, loop)
