-- RECOIL-online hyper-parameters (reference configs/il/recoil_online/*-expert-v2.yaml; algorithms.md §4.5, §6)
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5; a file, Minari dir or id, or D4RL id
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 10, train_ratio = 0.9, expert_rule = "reference",
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256, expert_ratio = 0.5,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000,
  alpha = 0.1,              -- fixed
  q_max = 1000,             -- Q clipped to +-q_max in every loss
  td_penalty = 0.5,         -- L_Q = (1 - td) [ibc IBC + (1 - ibc) CD] + td TD + gp GP
  ibc_penalty = 0.1, grad_penalty = 10, grad_target = 200,
  -- online loop (§2.8)
  buffer_size = 1000000, update_after = 2000, steps_per_epoch = 1000, epochs = 1000,
  max_episode_steps = 1000, eval_episodes = 1,
  checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 20, update_after = 1000, checkpoint_every = 5000, eval_episodes = 3},
  },
}
