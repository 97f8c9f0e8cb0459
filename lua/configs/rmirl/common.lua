-- RMIRL hyper-parameters (reference configs/il/rmirl/*-medium-replay-v2.yaml; algorithms.md §3.6, §4.8, §6)
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5; a file, Minari dir or id, or D4RL id
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 10, expert_rule = "reference",
  dataset = "medium_replay",
  transitions = "",         -- "" = data/<env>/<dataset>.h5
  model = "",               -- pretrained ensemble: "" = data/<env>/ensemble_<dataset>.h5 (reward head dropped, 5 elites kept)
  -- SAC solver (§2.4): Q clipped at +-1000, alpha 0.1 tuned
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256, real_ratio = 0.5,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000, alpha = 0.1, tune_alpha = true, q_clip = 1000,
  zero_init_critic = true,  -- both Q nets' final layers start at 0
  -- reward R(ô, a) (§2.6): no done input, clip 10, a step every reward_every iterations
  lr_reward = 3e-4, max_reward = 10, grad_penalty = 10, grad_target = 1, l2_penalty = 1e-5, reward_every = 10,
  -- model rollouts: rollout_batch starts (half expert, half transition rows) x horizon, every rollout_every
  rollout_batch = 5000, horizon = 40, rollout_every = 250, expert_start_ratio = 0.5, model_buffer_size = 1000000,
  -- adversarial model update (§3.6): adv_steps steps every update_model_every iterations
  update_model_every = 1000, adv_steps = 100, adv_penalty = 0.05, adv_rollout_steps = 40, lr_model = 1e-4,
  sl_ratio = 1.2,           -- SL rows per update: min(floor(256 adv_steps sl_ratio), transition rows)
  epochs = 1000, steps_per_epoch = 1000,
  eval_episodes = 1, checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, eval_episodes = 3, rollout_batch = 1000, horizon = 10, adv_steps = 20, print_every_s = 15},
  },
}
