-- One MBPO env step with its amortized share of model retraining and rollouts (algorithms.md §3.3, §5.2),
-- hopper sizes (obs 11, act 3). The parts are built here from the library as algorithms/mbpo.lua builds
-- them (cil.SAC, cil.EnsembleDynamics, cil.DynamicsTrainer, cil.rollout.run), with the config read by
-- cil.run.config("mbpo") (lua/configs/mbpo/common.lua, as the script's run.begin does). The real buffer
-- holds the first 100,000 rows of the shipped hopper medium_replay data (a SAC agent's own replay
-- buffer from the start of its training: what MBPO's buffer holds after 100k env steps). Three parts,
-- timed apart and combined as a run meets them:
--   policy: 10 SAC updates (Huber critic), each on 128 real + 128 model rows (the model buffer filled by
--     the rollouts below) -> policy_steps_per_s = updates per second
--   model retrain: format (permutation, eval = last 1000 rows, scaler refit on the 99,000 train rows;
--     not timed, ~ms), then Trainer:fit with max_stale huge so it never stops early: per epoch a
--     per-member permutation, 386 Adam steps on L_SL (clip 1000, lr 3e-4), the held-out MAE/NLL per
--     member and the snapshot copy of improved members. 4 epochs run; model_epoch_s = median of the
--     last 3 (the first, which allocates Adam's state, is a warm-up). EPOCHS = 20 epochs per retrain
--     is a convention (MBPO's warm retrain stops early and its count varies; 20 is an assumed typical
--     count, not measured from a run)
--   rollout: 100,000 starts from the real buffer, H = 15 (the max horizon), stochastic actor, one
--     member per row from the 5 elites the fit chose, d = term(o') on raw obs, rows with d = 1 dropped
--     after being stored, all into the 1e6-row model ring -> rollout_s = one timed rollout after a warm-up
--     (each is ~1.1M model rows; PyTorch's takes ~70 s)
--   per_s = 1 / (10 / policy_steps_per_s + (EPOCHS model_epoch_s + rollout_s) / 250)
-- The work of bench/torch_mbpo.py.   cleanil bench/mbpo.lua [threads] [seconds]
local B = dofile(CLEANIL_LUA_DIR .. "/../bench/common.lua")
local threads, seconds = B.args()
local EPOCHS, RUN_EPOCHS, NREAL = 20, 4, 100000
local cfg = cil.run.config("mbpo", {"--env=hopper"})
cil.set_num_threads(threads)
cil.set_precision(cfg.precision, {no_grad = cfg.nograd_precision})
cil.manual_seed(cfg.seed)
local rng = cil.rng(cfg.seed)
local O, A = 11, 3
local sac = cil.SAC(O, A, cfg, rng)
local dyn = cil.EnsembleDynamics(O, A, {members = cfg.members, elites = cfg.elites, hidden = cfg.model_hidden, rng = rng})
local trainer = cil.DynamicsTrainer(dyn, {lr = cfg.lr_actor, grad_clip = cfg.grad_clip, eval_ratio = cfg.eval_ratio,
  max_stale = math.huge})
local model_buf = cil.ReplayBuffer(cfg.model_buffer_size, O, A)
-- the real buffer: 100k rows of hopper medium_replay in a buffer of the run's capacity
local d = cil.data.load(cil.shipped.path("hopper", "medium_replay"))
local real = cil.ReplayBuffer(cfg.buffer_size, O, A)
local function first(t) return t:narrow(1, 1, NREAL) end
real:add(first(d.observations), first(d.actions), first(d.rewards), first(d.next_observations), first(d.terminals))
d = nil

-- model retrain, as mbpo.lua's retrain_and_rollout: model_rows rows without replacement, targets [Δo, r]
local n = math.min(cfg.model_rows, real:size())
local idx = cil.randperm(rng, real:size()):narrow(1, 1, n)
local rows = {}
for k, v in pairs(real:rows(1, real:size())) do rows[k] = cil.data.take(v, idx) end
local x = cil.cat({rows.obs, rows.act}, 2):persist()
local y = cil.cat({rows.next_obs - rows.obs, rows.rew}, 2):persist()
rows = nil
local split = trainer:format(x, y, rng)
local stamps = {cil.sys.clock()}
trainer:fit(split, rng, {max_epochs = RUN_EPOCHS, on_epoch = function() stamps[#stamps + 1] = cil.sys.clock() end})
local ep = {}
for k = 2, RUN_EPOCHS do ep[#ep + 1] = stamps[k + 1] - stamps[k] end
table.sort(ep)
local epoch_s = ep[(#ep + 1) // 2]

-- rollouts: one warm-up, then one timed (the 5 elites of the fit above; p = 0.2 each)
local function rollout()
  return cil.rollout.run(dyn, sac.actor, real:sample(cfg.rollout_batch, rng).obs, {horizon = cfg.max_horizon,
    rng = rng, buffer = model_buf, env = "hopper", continue = "alive"})
end
rollout()
local t0 = cil.sys.clock()
local nrows = rollout().rows
local T = cil.sys.clock() - t0

-- policy: blocks of cfg.policy_steps SAC updates on 128 real + 128 model rows, as mbpo.lua's learn
local function block()
  for _ = 1, cfg.policy_steps do
    cil.reset()
    sac:update(cil.data.sample_mixed(real, model_buf, cfg.batch_size, cfg.real_ratio, rng))
  end
end
local rb, lob, hib = B.measure(block, seconds)
local P = cfg.policy_steps
local every = cfg.train_model_every
local function amortized(blocks_per_s) return 1 / (1 / blocks_per_s + (EPOCHS * epoch_s + T) / every) end
local D, E, BS = O + 1, cfg.members, cfg.batch_size
local full = function(i) return i == 1 and 2 or 3 end
local steps = math.floor(split.n / BS)
local flop = P * B.sac_flop(O, A, BS)
  + (EPOCHS * (steps * B.ens_flop(O, A, D, E, BS, full) + B.ens_flop(O, A, D, E, split.eval_x:size(1)))
    + nrows * (B.lin({O, 256, 256, 256, 2 * A}, 1, function() return 1 end) + B.ens_flop(O, A, D, E, 1))) / every
B.emit("mbpo_step", threads, amortized(rb), amortized(lob), amortized(hib), flop,
  {policy_steps_per_s = P * rb, model_epoch_s = epoch_s, rollout_s = T, model_epochs = EPOCHS,
   rollout_rows = nrows})
