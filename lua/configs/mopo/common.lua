-- MOPO hyper-parameters (reference configs/rl/mopo/*-medium-expert-v2.yaml; algorithms.md §3.4, §5.3, §6)
return {
  seed = 0,
  threads = 1,
  dataset = "medium_expert",
  transitions = "",         -- offline data: "" = data/<env>/<dataset>.h5 (made on first use); or a file / id
  model = "",               -- pretrained ensemble: "" = data/<env>/ensemble_<dataset>.h5 (algorithms/ensemble.lua)
  -- SAC (§2.4): MSE critic, alpha 1 tuned, no Q clip
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256, real_ratio = 0.5,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000, alpha = 1.0, tune_alpha = true,
  -- model rollouts (§5.3): every rollout_every iterations, rollout_batch starts x horizon steps
  rollout_batch = 5000, horizon = 40, rollout_every = 250, model_buffer_size = 1000000,
  -- penalty weight lambda, tuned so that mean(lambda pen) -> lam_target
  lam = 1.0, lam_target = 1.0, lr_lam = 0.01, tune_lam = true,
  epochs = 1000, steps_per_epoch = 1000,
  eval_episodes = 1, checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, eval_episodes = 3, rollout_batch = 1000, horizon = 10, print_every_s = 15},
  },
}
