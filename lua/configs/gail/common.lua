-- GAIL hyper-parameters (reference configs/il/gail/*-expert-v2.yaml; algorithms.md §2.6, §4.6, §6)
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5 shipped with cleanil; or a file
                            -- (D4RL or Minari layout), a Minari dataset directory, a Minari id
                            -- (mujoco/hopper/expert-v0) or a D4RL id (hopper-expert-v2) in their stores
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 10, expert_rule = "reference",
  -- SAC solver (§2.4)
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000, alpha = 1.0, tune_alpha = true,
  real_ratio = 0.5,            -- share of expert rows in each policy batch
  -- reward model (§2.6)
  lr_reward = 3e-4, use_done = true, max_reward = 10, grad_penalty = 10, grad_target = 1,
  l2_penalty = 1e-5, reward_steps = 1,
  -- online loop
  buffer_size = 1000000, update_after = 2000, steps_per_epoch = 1000, epochs = 1000,
  max_episode_steps = 1000, eval_episodes = 1,
  checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 20, update_after = 1000, checkpoint_every = 5000, eval_episodes = 3},
  },
}
