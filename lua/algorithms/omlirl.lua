-- OMLIRL: offline model-based maximum-likelihood IRL with a MOPO-style solver (algorithms.md §3.4,
-- §4.7). The pretrained medium-replay ensemble without its reward head (all 7 members) and its
-- observation statistics; 10 expert episodes; transition rows = expert u medium-replay (penalty 0).
-- Per iteration t:
--   if t == 0 or (t + 1) % 250 == 0: 5000 starts (half expert, half transition rows), 40 steps of
--     a ~ pi(ô) -> model step -> pen (all members) -> d = d or term(ô') (sticky) -> lambda step
--     L_lambda = mean(e^{log lambda} sg(lambda pen - 1)) -> store (ô, a, pen, ô', d) -> keep |ô'| < 30
--   policy: SAC (Q clipped +-1000) on 128 transition + 128 model rows with r = R(ô, a) - lambda pen
--   every 10: reward step, 256 expert vs 256 model rows:
--     L_R = -(mean R_E - mean R_model) + 10 GP(R; x_E, x_model; 1) + 1e-5 l2(R)
--   cleanil algorithms/omlirl.lua --env=hopper [--preset=quick] [--key=value ...] [--resume]
local cil = require "cleanil"
local cfg, run, rng = cil.run.begin("omlirl", arg, "offline model-based ML-IRL (MOPO-style solver)")
if not cfg then return end -- --help
for _, k in ipairs({"rollout_batch", "horizon", "rollout_every", "model_buffer_size", "reward_every", "num_expert_trajs"}) do
  if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then error(("omlirl: --%s must be a positive whole number"):format(k), 0) end
end
local spec = cil.env.spec(cfg.env)
local O, A = spec.obs_dim, spec.act_dim
local mpath = cfg.model ~= "" and cfg.model or cil.data_path(cfg.env, "ensemble_" .. cfg.dataset .. ".h5")
local dyn, meta = cil.load_dynamics(mpath, cfg.env)
dyn:remove_reward_head()
local mean, std = meta.obs_mean:persist(), meta.obs_std:persist()
local demos = cil.data.load_experts(cil.run.expert_name(cfg), cfg.num_expert_trajs, {rule = cfg.expert_rule, env = cfg.env})
local tname = cfg.transitions ~= "" and cfg.transitions or cil.shipped.path(cfg.env, cfg.dataset)
local trans, tpath = cil.data.load(tname)
cil.data.check_task(trans, cfg.env, tpath)
local expert_d = cil.data.normalize_dataset(demos, mean, std)
local experts = cil.data.to_buffer(expert_d)
local union = cil.data.normalize_dataset(cil.data.combine(demos, trans), mean, std)
union.rewards = cil.zeros(cil.data.num_rows(union)):persist()   -- data rows carry pen = 0
local transitions = cil.data.to_buffer(union)
trans, union = nil, nil
local loop = cil.offline.Loop(run, cfg, rng, {experts = false, mean = mean, std = std})
loop.experts = demos                                              -- the demonstrator scale of the headline
local sac = cil.SAC(O, A, cfg, rng)
local reward = cil.RewardModel(O, A, {use_done = false, max_reward = cfg.max_reward, hidden = cfg.hidden,
  activation = cfg.activation, rng = rng})
local reward_params = reward:parameters()
local reward_opt = cil.optim.Adam(reward_params, {lr = cfg.lr_reward})
local model_buf = cil.ReplayBuffer(cfg.model_buffer_size, O, A)   -- its reward column holds pen
local log_lam = cil.param(cil.tensor{math.log(cfg.lam)})
local lam_opt = cil.optim.Adam({log_lam}, {lr = cfg.lr_lam})
local last, rstats = {}, {}
local function cat(o, a) return cil.cat({o, a}, 2) end

local function lambda_step(pen)
  if not cfg.tune_lam then return end
  local lam = math.exp(log_lam[1])
  local loss = (log_lam:exp() * (pen * lam - cfg.lam_target):mean():detach()):sum()
  log_lam.grad = nil
  loss:backward()
  lam_opt:step()
end

local function rollout()
  local ne = math.floor(cfg.rollout_batch * cfg.expert_start_ratio)
  local starts = cil.cat({experts:sample(ne, rng).obs, transitions:sample(cfg.rollout_batch - ne, rng).obs}, 1)
  local r = cil.rollout.run(dyn, sac.actor, starts, {horizon = cfg.horizon, rng = rng, buffer = model_buf,
    env = cfg.env, mean = mean, std = std, sticky = true, continue = "bounded", penalty = true,
    reward = function(st) lambda_step(st.pen); return st.pen end})
  last = {model_rollout_steps = r.steps, model_rollout_rows = r.rows, ensemble_pen = r.pen_mean}
end

local function reward_step()
  local e, m = experts:sample(cfg.batch_size, rng), model_buf:sample(cfg.batch_size, rng)
  local xe, xm = cat(e.obs, e.act), cat(m.obs, m.act)
  local gp, gnorm = cil.gradient_penalty(reward, xe, xm, cfg.grad_target, rng)
  local l2 = cil.l2(reward_params)
  local adv = -(reward(xe):mean() - reward(xm):mean())
  local loss = adv + gp * cfg.grad_penalty + l2 * cfg.l2_penalty
  reward_opt:zero_grad()
  loss:backward({inputs = reward_params})
  cil.optim.clip_grad_norm(reward_params, cfg.grad_clip)
  reward_opt:step()
  return {reward_loss = adv:item(), reward_total_loss = loss:item(), grad_penalty = gp:item(), grad_norm = gnorm:item(), l2 = l2:item()}
end

local function step(t)
  if t == 0 or (t + 1) % cfg.rollout_every == 0 then rollout() end
  cil.reset()
  local b = model_buf:size() >= cfg.batch_size and cil.data.sample_mixed(transitions, model_buf, cfg.batch_size, cfg.real_ratio, rng)
    or transitions:sample(cfg.batch_size, rng)
  local lam = math.exp(log_lam[1])
  b.rew = cil.no_grad(function() return reward(cat(b.obs, b.act)) - b.rew * lam end)   -- b.rew: pen
  local s = sac:update(b)
  if (t + 1) % cfg.reward_every == 0 then rstats = reward_step() end
  for k, v in pairs(last) do s[k] = v end
  for k, v in pairs(rstats) do s[k] = v end
  s.lam, s.model_buffer_size = lam, model_buf:size()
  return s
end

loop:train{
  actor = sac.actor, step = step,
  log_extra = function(row)
    local g = cil.rng(cil.run.eval_seed(cfg, row.step) + 17)
    row.train_act_logp, row.train_act_mae = cil.offline.probe(sac.actor, expert_d, g)
  end,
  state = function() return {sac = sac:state(), reward = reward:state_dict(), reward_opt = reward_opt:state(),
    log_lam = log_lam, lam_opt = lam_opt:state()} end,
  extra_checkpoint = function() return {model_buffer = model_buf} end,
  load = function(s, ck)
    sac:load_state(s.sac); reward:load_state_dict(s.reward, "omlirl reward"); reward_opt:load_state(s.reward_opt)
    log_lam:copy_(s.log_lam); lam_opt:load_state(s.lam_opt)
    model_buf = ck.model_buffer
  end,
}
