-- SAC: soft actor-critic on a MuJoCo task, as the reference runs it (algorithms.md §2.4, §2.8).
-- Also the maker of cleanil's data: it saves the medium-replay buffer the first time the evaluation
-- return reaches `medium_return`, and its actor is the expert that collects demonstrations.
--   cleanil algorithms/sac.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, flags = cil.run.config("sac", arg, "soft actor-critic (the RL solver of GAIL and the IRL methods)")
if flags.help then return end

local run = cil.run.start("sac", cfg, flags)
cil.set_num_threads(cfg.threads)
cil.manual_seed(cfg.seed)
local rng = cil.rng(cfg.seed)                      -- actions, batches, reset seeds
local env = cil.env.make(cfg.env, {num_envs = 1, seed = cfg.seed})
local eval_env = cil.env.make(cfg.env, {num_envs = cfg.eval_episodes, seed = cfg.seed + 100003})
local O, A = env.obs_dim, env.act_dim
local sac = cil.SAC(O, A, cfg, rng)
local buffer = cil.ReplayBuffer(cfg.buffer_size, O, A)
local timeouts = cil.persistent(math.min(cfg.buffer_size, 2000000))  -- for the D4RL-layout export
local T = cfg.epochs * cfg.steps_per_epoch + cfg.update_after

-- state that a checkpoint carries besides the learner and the buffer
local S = {step = 0, ep_return = 0, ep_len = 0, episodes = 0, last_train_return = 0,
  evals = {}, medium_saved = false, env_seed = 0}

local function new_episode()
  S.env_seed = rng:random(2 ^ 31 - 1)
  S.ep_return, S.ep_len = 0, 0
  return env:reset_one(1, S.env_seed)
end

local function save_checkpoint()
  local qpos, qvel = env:state(1)
  cil.checkpoint.save(run:checkpoint_path(), {
    state = S, sac = sac:state(), buffer = buffer, timeouts = timeouts, rng = rng:state(),
    env = {qpos = qpos, qvel = qvel}, config = cfg,
  })
end

local obs
if run.resuming then
  local ck = cil.checkpoint.load(run:checkpoint_path())
  S = ck.state
  sac:load_state(ck.sac)
  buffer = ck.buffer
  timeouts:copy_(ck.timeouts)
  rng:set_state(ck.rng)
  env:reset_one(1, S.env_seed)                       -- same episode start, then restore its state
  env:set_state(1, ck.env.qpos, ck.env.qvel)
  obs = env:observation()
  run:trim_log(S.step)
  print(string.format("[sac %s] resumed from %s at step %d", cfg.env, run:checkpoint_path(), S.step))
else
  obs = new_episode()
end

local function export_medium_replay()
  local n = buffer:size()
  local rows = buffer:rows(1, n)
  local dir = cfg.data_dir ~= "" and cfg.data_dir or (run.dir .. "/data")
  cil.run.mkdir_p(dir)
  cil.data.save_d4rl(dir .. "/medium_replay.h5", {
    observations = rows.obs, actions = rows.act, rewards = rows.rew:reshape(n),
    next_observations = rows.next_obs, terminals = rows.done:reshape(n),
    timeouts = timeouts:narrow(1, 1, n),
    metadata = {algorithm = "SAC", iteration = S.step, source = "cleanil algorithms/sac.lua"},
  })
  cil.checkpoint.save(dir .. "/medium_policy.h5", {actor = sac.actor:state_dict(), step = S.step})
  print(string.format("[sac %s] eval return reached the medium level: saved %d transitions to %s",
    cfg.env, n, dir .. "/medium_replay.h5"))
end

local stats = {}
while S.step < T do
  local t = S.step
  cil.reset()
  -- act: uniform random during warm-up, then a stochastic actor sample
  local a
  if t + 1 < cfg.update_after then a = cil.uniform(rng, -1, 1, 1, A)
  else a = sac.actor(obs):sample(rng) end
  local obs2, r, term = env:step(a)
  buffer:add(obs, a, r:reshape(1, 1), obs2, term:reshape(1, 1))
  S.ep_return, S.ep_len = S.ep_return + r[1], S.ep_len + 1
  local timeout = S.ep_len >= cfg.max_episode_steps     -- our own count (survives a resume)
  timeouts[buffer:size()] = (timeout and term[1] == 0) and 1 or 0
  if term[1] > 0 or timeout then
    S.episodes, S.last_train_return = S.episodes + 1, S.ep_return
    obs = new_episode()
  else
    obs = obs2
  end
  if t + 1 > cfg.update_after then stats = sac:update(buffer:sample(cfg.batch_size, rng)) end
  if t + 1 > cfg.update_after and (t + 1 - cfg.update_after) % cfg.steps_per_epoch == 0 then
    local returns = cil.run.evaluate(eval_env, sac.actor)
    for _, R in ipairs(returns) do S.evals[#S.evals + 1] = R end
    local mean = 0
    for _, R in ipairs(returns) do mean = mean + R / #returns end
    run:log({step = t + 1, eval_return = mean, eval_score = cil.env.normalized_score(cfg.env, mean),
      train_return = S.last_train_return, episodes = S.episodes, alpha = stats.alpha or cfg.alpha,
      critic_loss = stats.critic_loss or 0, actor_loss = stats.actor_loss or 0,
      steps_per_s = run.rate or 0})
    S.last_eval = mean
    if cfg.medium_return > 0 and not S.medium_saved and mean >= cfg.medium_return then
      export_medium_replay()
      S.medium_saved = true
    end
  end
  S.step = t + 1
  if S.step % cfg.checkpoint_every == 0 or S.step == T then save_checkpoint() end
  run:progress(S.step, T, string.format("train return %.1f | last eval %s", S.last_train_return,
    S.last_eval and string.format("%.1f", S.last_eval) or "-"))
end

-- headline: IQM +- std over the last 30 evaluation episodes
local last = {}
for i = math.max(1, #S.evals - 29), #S.evals do last[#last + 1] = S.evals[i] end
local iqm, std = cil.run.iqm_std(last)
cil.checkpoint.save(run.dir .. "/policy.h5", {actor = sac.actor:state_dict(), step = S.step})
run:write_json("summary.json", {algo = "sac", env = cfg.env, seed = cfg.seed, steps = S.step,
  eval_return_iqm = iqm, eval_return_std = std, d4rl_score_iqm = cil.env.normalized_score(cfg.env, iqm),
  last_evals = last})
print(string.format("[sac %s] done: eval return IQM %.1f +- %.1f over the last %d episodes (D4RL score %.1f)",
  cfg.env, iqm, std, #last, cil.env.normalized_score(cfg.env, iqm)))
