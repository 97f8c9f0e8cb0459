-- Dynamics ensemble pretraining, the reference's train_ensemble.py (algorithms.md §3.1, §3.3, §3.5)
return {
  seed = 0,
  threads = 1,
  -- data: `num_expert_trajs` expert episodes (rewards zeroed) + transition_data_size rows of
  -- data/<env>/<dataset>.h5 drawn without replacement (all of a medium-replay file, half of medium-expert)
  dataset = "medium_replay",    -- or "medium_expert"
  transition_data_size = 1000000,
  transition_path = "",         -- "" = data/<env>/<dataset>.h5
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5 shipped with cleanil; or a file
                            -- (D4RL or Minari layout), a Minari dataset directory, a Minari id
                            -- (mujoco/hopper/expert-v0) or a D4RL id (hopper-expert-v2) in their stores
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 10, expert_rule = "reference",
  -- model (§3.1)
  members = 7, elites = 5, hidden = {200, 200, 200}, activation = "silu",
  min_std = 0.04, max_std = 1.6, pred_reward = true,
  -- training (§3.3)
  lr = 3e-4, grad_clip = 1000, batch_size = 256, eval_ratio = 0.2, max_eval = 1000,
  max_epochs = 500, max_stale = 10,
  -- output: RUN_DIR/ensemble.h5, also written to `save_path` when set (e.g. data/hopper/ensemble_medium_replay.h5)
  save_path = "",
  checkpoint_every = 1, print_every_s = 10,
  presets = {
    -- under a minute: a few epochs on 20k rows; shows the loss and MAE falling, never reported
    quick = {max_epochs = 4, max_rows = 20000},
  },
  max_rows = 0,                 -- > 0: use only the first max_rows transition rows (quick runs, tests)
}
