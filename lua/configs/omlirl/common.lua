-- OMLIRL hyper-parameters (reference configs/il/omlirl/*-medium-replay-v2.yaml; algorithms.md §3.4, §4.7, §6)
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5; a file, Minari dir or id, or D4RL id
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 10, expert_rule = "reference",
  dataset = "medium_replay",
  transitions = "",         -- "" = data/<env>/<dataset>.h5
  model = "",               -- pretrained ensemble: "" = data/<env>/ensemble_<dataset>.h5 (reward head dropped here)
  -- SAC solver (§2.4): Q clipped at +-1000, alpha 0.1 tuned
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256, real_ratio = 0.5,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000, alpha = 0.1, tune_alpha = true, q_clip = 1000,
  -- reward R(ô, a) (§2.6): no done input, clip 10, a step every reward_every iterations
  lr_reward = 3e-4, max_reward = 10, grad_penalty = 10, grad_target = 1, l2_penalty = 1e-5, reward_every = 10,
  -- model rollouts: rollout_batch starts (half expert, half transition rows) x horizon, every rollout_every
  rollout_batch = 5000, horizon = 40, rollout_every = 250, expert_start_ratio = 0.5, model_buffer_size = 1000000,
  lam = 1.0, lam_target = 1.0, lr_lam = 0.01, tune_lam = true,
  epochs = 1000, steps_per_epoch = 1000,
  eval_episodes = 1, checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, eval_episodes = 3, rollout_batch = 1000, horizon = 10, print_every_s = 15},
  },
}
