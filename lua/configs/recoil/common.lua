-- RECOIL hyper-parameters (reference configs/il/recoil/*-medium-replay-v2.yaml; algorithms.md §2.7, §4.4, §6)
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5; a file, Minari dir or id, or D4RL id
  expert_path = "",         -- the same (older name)
  transitions = "",         -- suboptimal data: "" = data/<env>/medium_replay.h5; or a file / dataset id
  num_expert_trajs = 20, train_ratio = 0.9, expert_rule = "reference",
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256, expert_ratio = 0.5,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000,
  alpha = 0.1,              -- fixed
  td_penalty = 0.8,         -- L_Q = (1 - td) CD_T + td TD + q_target_penalty QT + H + grad_penalty GP
  q_expert_target = 200, q_target_penalty = 1,
  grad_penalty = 0, grad_target = 100,   -- halfcheetah: 10
  action_noise = 0.1,
  epochs = 500, steps_per_epoch = 1000,
  eval_episodes = 1, checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, eval_episodes = 3, print_every_s = 15},
  },
}
