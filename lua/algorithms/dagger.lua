-- DAgger: dataset aggregation (Ross, Gordon, Bagnell 2011) with the tanh-Gaussian BC learner.
-- D = the demonstrations; for round i = 1..epochs:
--   fit:     steps_per_epoch BC updates on D,  L = -mean log pi(a | o),  (o, a) ~ D uniformly
--   collect: rollout_steps env steps acting with the expert w.p. beta_i, else the learner's tanh(mu);
--            every visited o is labelled a = tanh(mu*(o)) of the shipped expert policy, D := D + {(o, a)}
--   beta_i = max(0, 1 - (i - 1) / beta_rampdown)   (linear, as imitation's LinearBetaSchedule)
--   cleanil algorithms/dagger.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("dagger", arg, "interactive imitation: roll out, ask the expert, aggregate, refit BC")
if not cfg then return end -- --help
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim

-- the expert to ask (data/<env>/expert_policy.h5 unless --expert_policy) and the starting demonstrations
local expert = cil.policy.load(cfg.expert_policy ~= "" and cfg.expert_policy or cil.data_path(cfg.env, "expert_policy.h5"), cfg.env)
local demos = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs, {rule = cfg.expert_rule, env = cfg.env})
local mean, std = cil.data.obs_stats(demos.observations)         -- fixed: a function of the data alone
local normalize = function(o) return (o - mean) / std end
local D = cil.ReplayBuffer(cfg.buffer_size, O, A)                -- the aggregate (a ring: keep it big enough)
D:add_dataset(demos)

local actor = cil.TanhNormalActor(O, A, cfg.hidden, {activation = cfg.activation, rng = rng})
local params = actor:parameters()
local opt = cil.optim.Adam(params, {lr = cfg.lr_actor})
local env = cil.env.make(cfg.env, {num_envs = 1, seed = cfg.seed})
local eval_env = cil.env.make(cfg.env, {num_envs = cfg.eval_episodes, seed = cfg.seed + 100003})

local function fit()
  local loss
  for _ = 1, cfg.steps_per_epoch do
    cil.reset()
    local b = D:sample(cfg.batch_size, rng)
    loss = cil.optim.minimize(opt, -actor(normalize(b.obs)):log_prob(b.act):mean(), params, cfg.grad_clip)
  end
  return loss
end

-- rollout_steps steps with the beta-mixture; episodes start afresh each round (no env state to keep)
local function collect(beta)
  local obs, t, ret, rets = env:reset_one(1, rng:random(2 ^ 31 - 1)):reshape(1, O):persist(), 0, 0, {}
  for _ = 1, cfg.rollout_steps do
    cil.reset()
    local label = expert.actor:act_deterministic(expert.input(obs))
    local a = rng:random() < beta and label or actor:act_deterministic(normalize(obs))
    D:add(obs, label, cil.zeros(1, 1), obs, cil.zeros(1, 1))  -- (o, expert's a); next_obs unused
    local o2, r, term = env:step(a)
    t, ret = t + 1, ret + r[1]
    if term[1] > 0 or t >= cfg.max_episode_steps then
      rets[#rets + 1] = ret
      obs, t, ret = env:reset_one(1, rng:random(2 ^ 31 - 1)):reshape(1, O):persist(), 0, 0
    else
      obs = o2:persist()
    end
  end
  return #rets > 0 and cil.run.mean_std(rets) or ret
end

local S = {round = 0, evals = {}}
if run.resuming then
  local ck = run:load_checkpoint({strict = true})
  actor:load_state_dict(ck.actor, "dagger actor")
  opt:load_state(ck.opt)
  rng:set_state(ck.rng)
  D, S = ck.buffer, ck.state
  run:trim_log(S.round * cfg.steps_per_epoch)
end

run:poll_interrupt()                           -- signals (Ctrl-C, a scheduler's notice) wait for a round's end
while S.round < cfg.epochs do
  local i = S.round + 1
  local loss = fit()
  local step = i * cfg.steps_per_epoch
  local returns = cil.run.evaluate(eval_env, actor, normalize, cil.run.eval_seed(cfg, step))
  local m = cil.run.mean_std(returns)
  for _, R in ipairs(returns) do S.evals[#S.evals + 1] = R end
  local beta = math.max(0, 1 - (i - 1) / cfg.beta_rampdown)
  local train_return = collect(beta)
  run:log({step = step, round = i, eval_return = m, eval_score = cil.env.normalized_score(cfg.env, m), loss = loss,
    beta = beta, rollout_return = train_return, dataset_rows = D:size()})
  S.round, S.last_eval = i, m
  cil.checkpoint.save(run:checkpoint_path(), {algo = "dagger", env = cfg.env, state = S, actor = actor:state_dict(),
    opt = opt:state(), rng = rng:state(), buffer = D, config = cfg})
  if S.round < cfg.epochs then run:poll_interrupt(nil, step) end   -- a signal: this checkpoint is current, exit 3
  run:progress(i, cfg.epochs, string.format("loss %.3f | beta %.2f | %d rows | last eval %.1f", loss, beta, D:size(), m))
end

cil.checkpoint.save(run.dir .. "/policy.h5", {actor = actor:state_dict(), obs_mean = mean, obs_std = std, step = S.round})
cil.run.finish(run, S.evals, demos.demo_return or demos.path)
