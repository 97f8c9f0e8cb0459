-- MBPO hyper-parameters (reference configs/rl/mbpo/*.yaml; algorithms.md §3.3, §5.2, §6)
return {
  seed = 0,
  threads = 1,
  -- SAC (§2.4): Huber critic, alpha 1 tuned, policy_steps updates per env step
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256, real_ratio = 0.5, policy_steps = 10,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000, alpha = 1.0, tune_alpha = true, critic_loss = "huber",
  -- the ensemble (§3.1, reward head), retrained warm every train_model_every env steps on up to
  -- model_rows real rows (at most model_epochs epochs; Adam at lr_actor, as the reference does)
  train_model_every = 250, model_rows = 100000, model_epochs = 200, eval_ratio = 0.2,
  members = 7, elites = 5, model_hidden = {200, 200, 200},
  -- rollouts: rollout_batch starts, horizon 1 -> max_horizon over epochs horizon_start -> horizon_end
  rollout_batch = 100000, max_horizon = 15, horizon_start = 20, horizon_end = 100, model_buffer_size = 1000000,
  -- online loop (§2.8)
  buffer_size = 1000000, update_after = 2000, steps_per_epoch = 1000, epochs = 1000,
  max_episode_steps = 1000, eval_episodes = 1,
  checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, update_after = 1000, checkpoint_every = 5000, eval_episodes = 3, rollout_batch = 2000,
      model_epochs = 5, policy_steps = 2, train_model_every = 500},
  },
}
