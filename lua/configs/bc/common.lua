-- BC hyper-parameters (reference configs/il/bc/*-expert-v2.yaml; algorithms.md §4.1, protocol.md)
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5 shipped with cleanil; or a file
                            -- (D4RL or Minari layout), a Minari dataset directory, a Minari id
                            -- (mujoco/hopper/expert-v0) or a D4RL id (hopper-expert-v2) in their stores
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 20, train_ratio = 0.9, expert_rule = "reference",
  hidden = {256, 256, 256}, activation = "silu",
  batch_size = 256, lr_actor = 3e-4, grad_clip = 1000, l2_penalty = 0,
  epochs = 200, steps_per_epoch = 1000,
  eval_episodes = 1, checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, eval_episodes = 3, print_every_s = 15},
    -- the default demo: ~1 minute on 2 cores, 30,000 updates -- enough for BC hopper to reach its demonstrator
    demo = {epochs = 30, eval_episodes = 3, threads = 2, print_every_s = 15},
  },
}
