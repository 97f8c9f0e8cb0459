-- DAgger hyper-parameters. There is no DAgger in the reference (CleanIL); the learner, its optimizer and the
-- demonstrations are its BC's (configs/bc/common.lua: 3 x 256 SiLU tanh-Gaussian, Adam 3e-4, batch 256,
-- 1000 updates per epoch, 200 epochs), one round per epoch. The beta schedule is linear from 1 to 0 over
-- 15 rounds, the default of the `imitation` library's DAggerTrainer (LinearBetaSchedule(15)); Ross et al.
-- 2011 only need the mean beta to go to 0. One 1000-step episode's worth of expert labels per round.
return {
  seed = 0,
  threads = 1,
  expert = "",              -- starting demonstrations: "" = data/<env>/expert.h5; or a file, Minari/D4RL id
  expert_path = "",         -- the same (older name)
  expert_policy = "",       -- the expert asked for labels: "" = data/<env>/expert_policy.h5
  num_expert_trajs = 10, expert_rule = "reference",
  hidden = {256, 256, 256}, activation = "silu",
  batch_size = 256, lr_actor = 3e-4, grad_clip = 1000,
  epochs = 200, steps_per_epoch = 1000,   -- rounds, BC updates per round
  rollout_steps = 1000, beta_rampdown = 15, max_episode_steps = 1000,
  buffer_size = 1000000,    -- rows of the aggregate data set (demonstrations + labelled visits)
  eval_episodes = 1, print_every_s = 10,
  presets = {
    quick = {epochs = 8, steps_per_epoch = 500, beta_rampdown = 3, num_expert_trajs = 2, eval_episodes = 3},
  },
}
