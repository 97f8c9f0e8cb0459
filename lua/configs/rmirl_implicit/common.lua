-- RMIRL-implicit hyper-parameters (reference configs/il/rmirl_implicit/*-medium-replay-v2.yaml; §3.6, §4.9, §6)
return {
  seed = 0,
  threads = 1,
  expert = "",              -- demonstrations: "" = data/<env>/expert.h5; a file, Minari dir or id, or D4RL id
  expert_path = "",         -- the same (older name)
  num_expert_trajs = 10, train_ratio = 0.9, expert_rule = "reference",
  dataset = "medium_replay",
  transitions = "",         -- "" = data/<env>/<dataset>.h5
  model = "",               -- pretrained ensemble: "" = data/<env>/ensemble_<dataset>.h5 (reward head dropped, 5 elites)
  hidden = {256, 256, 256}, activation = "silu",
  gamma = 0.99, polyak = 0.995, batch_size = 256, real_ratio = 0.5,
  lr_actor = 3e-4, lr_critic = 3e-4, lr_critic_min = 1e-5, warmup_epochs = 300, grad_clip = 1000,
  alpha = 0.1,              -- fixed
  q_max = 1000,             -- targets and advantages clip min Q to +-q_max
  ibc_penalty = 1, td_penalty = 0.5, grad_penalty = 10, grad_target = 600,   -- walker2d: 100
  -- model rollouts (5000 x 20 every 250; the initial d is term(ô))
  rollout_batch = 5000, horizon = 20, rollout_every = 250, expert_start_ratio = 0.5, model_buffer_size = 1000000,
  -- adversarial model update (§3.6)
  update_model_every = 1000, adv_steps = 100, adv_penalty = 0.05, adv_rollout_steps = 20, lr_model = 1e-4,
  sl_ratio = 1.2,
  epochs = 1000, steps_per_epoch = 1000,
  eval_episodes = 1, checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 10, eval_episodes = 3, rollout_batch = 1000, horizon = 10, adv_steps = 20, print_every_s = 15},
  },
}
