-- IQ-Learn hyper-parameters (reference configs/il/iqlearn/*-expert-v2.yaml; algorithms.md §2.7, §4.3, §6)
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5; a file, Minari dir or id, or D4RL id
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 20, train_ratio = 0.9, expert_rule = "reference",
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000,
  alpha = 0.1,              -- fixed (tune_alpha false in the reference)
  td_penalty = 0.5,         -- L_Q = (1 - td) CD + td TD + gp GP + l2 l2(critic)
  grad_penalty = 10, grad_target = 1, l2_penalty = 0,
  action_noise = 0.1,       -- AWR: noise on half of the expert actions
  epochs = 500, steps_per_epoch = 1000,
  eval_episodes = 1, checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, eval_episodes = 3, print_every_s = 15},
  },
}
