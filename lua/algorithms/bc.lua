-- BC: behaviour cloning with the tanh-Gaussian actor (algorithms.md §4.1).
--   L = -mean log pi(a_E | o_E) + l2_penalty * 1/2 sum theta^2
--   cleanil algorithms/bc.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("bc", arg, "behaviour cloning from expert demonstrations")
if not cfg then return end -- --help

-- data: N expert episodes, a 90/10 train/eval split, observations normalized with train stats
local experts = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs, {rule = cfg.expert_rule, env = cfg.env})
local train, held_out = cil.data.train_test_split(experts, cfg.train_ratio, rng)
local mean, std = cil.data.obs_stats(train.observations)
train = cil.data.normalize_dataset(train, mean, std)
held_out = cil.data.normalize_dataset(held_out, mean, std)
local normalize = function(o) return (o - mean) / std end

local env = cil.env.make(cfg.env, {num_envs = cfg.eval_episodes, seed = cfg.seed + 100003})
local actor = cil.TanhNormalActor(env.obs_dim, env.act_dim, cfg.hidden, {activation = cfg.activation, rng = rng})
local params = actor:parameters()
local opt = cil.optim.Adam(params, {lr = cfg.lr_actor})
local N = cil.data.num_rows(train)

local function l2(ps)
  local s = 0
  for _, p in ipairs(ps) do s = s + p:sumsq() * 0.5 end
  return s
end

-- likelihood probes (no grad): mean log pi(a|o) and mean |a_sample - a| on up to 1000 rows
local function probe(d)
  return cil.no_grad(function()
    local n = math.min(1000, cil.data.num_rows(d))
    local o, a = d.observations:rows(1, n), d.actions:rows(1, n)
    local pi = actor(o)
    return pi:log_prob(a):mean():item(), (pi:sample(rng) - a):abs():mean():item()
  end)
end

local T = cfg.epochs * cfg.steps_per_epoch
local S = {step = 0, evals = {}}
if run.resuming then
  local ck = run:load_checkpoint()
  local ok, err = pcall(function() actor:load_state_dict(ck.actor); opt:load_state(ck.opt) end)
  if not ok or type(ck.state) ~= "table" then
    error(("bc: %s does not fit this run (a checkpoint of another algorithm or config?): %s"):format(
      run:checkpoint_path(), ok and "no 'state'" or tostring(err)), 0)
  end
  S = ck.state
  rng:set_state(ck.rng)
  run:trim_log(S.step)
end

local loss_value = 0
run:poll_interrupt()                           -- signals from here on wait for the end of an update
while S.step < T do
  cil.reset()
  local idx = cil.randint(rng, 1, N, cfg.batch_size)
  local o, a = train.observations:index_select(1, idx), train.actions:index_select(1, idx)
  local loss = -actor(o):log_prob(a):mean()
  if cfg.l2_penalty > 0 then loss = loss + l2(params) * cfg.l2_penalty end
  opt:zero_grad()
  loss:backward()
  cil.optim.clip_grad_norm(params, cfg.grad_clip)
  opt:step()
  loss_value = loss:item()
  S.step = S.step + 1
  if S.step % cfg.steps_per_epoch == 0 then
    local returns = cil.run.evaluate(env, actor, normalize, cil.run.eval_seed(cfg, S.step))
    local m = 0
    for _, R in ipairs(returns) do S.evals[#S.evals + 1] = R; m = m + R / #returns end
    local tl, tm = probe(train)
    local el, em = probe(held_out)
    run:log({step = S.step, eval_return = m, eval_score = cil.env.normalized_score(cfg.env, m),
      loss = loss_value, train_act_logp = tl, train_act_mae = tm, eval_act_logp = el, eval_act_mae = em})
    S.last_eval = m
  end
  local function save()
    cil.checkpoint.save(run:checkpoint_path(), {algo = "bc", env = cfg.env, state = S, actor = actor:state_dict(),
      opt = opt:state(), rng = rng:state(), config = cfg})
  end
  local saved = S.step % cfg.checkpoint_every == 0 or S.step == T
  if saved then save() end
  if S.step < T then run:poll_interrupt(not saved and save or nil, S.step) end  -- a signal: checkpoint, exit 3
  run:progress(S.step, T, string.format("loss %.3f | last eval %s", loss_value,
    S.last_eval and string.format("%.1f", S.last_eval) or "-"))
end

cil.checkpoint.save(run.dir .. "/policy.h5", {actor = actor:state_dict(), obs_mean = mean, obs_std = std, step = S.step})
cil.run.finish(run, S.evals, experts.demo_return or experts.path)
