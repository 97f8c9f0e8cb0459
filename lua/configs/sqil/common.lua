-- SQIL hyper-parameters. There is no SQIL in the reference (CleanIL); the values are its GAIL's SAC
-- solver and budget (configs/gail/common.lua) so the two compare directly, with SQIL's own choices from
-- Reddy et al. 2019 (arXiv:1905.11108): rewards 1 / 0, half the batch expert rows (their "balanced"
-- replay, lambda_samp = 1), expert rows never leave the batch.
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5; or a file, Minari/D4RL id
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 10, expert_rule = "reference",
  -- SAC solver (§2.4)
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256,
  lr_actor = 3e-4, lr_critic = 3e-4, grad_clip = 1000, alpha = 1.0, tune_alpha = true,
  expert_ratio = 0.5,       -- share of expert rows (reward 1) in each batch
  -- online loop (§2.8)
  buffer_size = 1000000, update_after = 2000, steps_per_epoch = 1000, epochs = 1000,
  max_episode_steps = 1000, eval_episodes = 1,
  checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 20, update_after = 1000, checkpoint_every = 5000, eval_episodes = 3},
  },
}
