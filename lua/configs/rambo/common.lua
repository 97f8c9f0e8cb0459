-- RAMBO hyper-parameters (reference configs/rl/rambo/*-medium-expert-v2.yaml; algorithms.md §3.6, §5.4, §6)
return {
  seed = 0,
  threads = 1,
  dataset = "medium_expert",
  transitions = "",         -- offline data: "" = data/<env>/<dataset>.h5 (made on first use); or a file / id
  model = "",               -- pretrained ensemble: "" = data/<env>/ensemble_<dataset>.h5; its 5 elites are kept
  -- SAC (§2.4): Huber critic, alpha 1 tuned
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256, real_ratio = 0.5,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000, alpha = 1.0, tune_alpha = true, critic_loss = "huber",
  -- model rollouts (no penalty): rollout_batch starts x horizon, every rollout_every iterations
  rollout_batch = 5000, horizon = 40, rollout_every = 250, model_buffer_size = 1000000,
  -- adversarial model update (§3.6): adv_steps steps every update_model_every iterations
  update_model_every = 1000, adv_steps = 1000, adv_penalty = 0.1, adv_rollout_steps = 40, lr_model = 1e-4,
  sl_ratio = 1.2,           -- SL rows per update: min(floor(256 adv_steps sl_ratio), offline rows)
  epochs = 1000, steps_per_epoch = 1000,
  eval_episodes = 1, checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, eval_episodes = 3, rollout_batch = 1000, horizon = 10, adv_steps = 50, print_every_s = 15},
  },
}
