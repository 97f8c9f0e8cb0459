-- SAC hyper-parameters shared by the three tasks (reference configs/rl/sac/*.yaml, algorithms.md §2.4, §6)
return {
  seed = 0,
  threads = 1,
  -- networks and losses
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000,
  alpha = 1.0, tune_alpha = true,
  -- loop (online, §2.8)
  buffer_size = 1000000, update_after = 2000, steps_per_epoch = 1000, epochs = 1000,
  max_episode_steps = 1000,
  -- evaluation: deterministic episodes after every epoch (reference: 1)
  eval_episodes = 1,
  -- run experience
  checkpoint_every = 20000, print_every_s = 10,
  -- data products (protocol.md, lua/algorithms/sac.lua): medium_level is D4RL's medium-v2 return
  -- (0 = no medium-replay export); sampled-action episodes of the medium screen and check, and of
  -- the measurement of each checkpoint's actor (0 = keep no actors); data_dir: where the medium
  -- files go ("" = RUN_DIR/data)
  medium_level = 0, medium_screen = 10, medium_episodes = 50, expert_episodes = 50, data_dir = "",
  presets = {
    -- a few minutes on one core: shows learning, never reported as a result
    quick = {epochs = 25, update_after = 1000, checkpoint_every = 5000, eval_episodes = 3, expert_episodes = 10},
  },
}
