-- IBC hyper-parameters (reference configs/il/ibc/*-expert-v2.yaml; algorithms.md §2.6, §4.2, §6)
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5; a file, Minari dir or id, or D4RL id
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 20, train_ratio = 0.9, expert_rule = "reference",
  hidden = {256, 256, 256}, activation = "silu",
  batch_size = 256, lr_actor = 3e-4, lr_reward = 3e-4, grad_clip = 1000,
  alpha = 0.2, tune_alpha = true,
  -- energy R(ô, a): the reward model without the done input, clipped at +-max_reward
  max_reward = 100, grad_penalty = 10, grad_target = 1, l2_penalty = 0,
  num_random = 3,           -- uniform negatives per row (besides one actor sample)
  epochs = 500, steps_per_epoch = 1000,
  eval_episodes = 1, checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, eval_episodes = 3, print_every_s = 15},
  },
}
