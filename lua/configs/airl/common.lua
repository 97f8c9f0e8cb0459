-- AIRL hyper-parameters. There is no AIRL in the reference (CleanIL); the SAC solver, data and budget are
-- its GAIL's (configs/gail/common.lua), the discriminator follows Fu et al. 2018 (arXiv:1710.11248):
-- g(o, a) and h(o) MLPs (2 x 256: our choice, GAIL's reward-model width is 3 x 256), a logistic loss against
-- D = exp f / (exp f + pi), one discriminator step per policy step, gamma as the solver's.
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
  expert_ratio = 0.5,       -- share of expert rows in each policy batch (as GAIL's real_ratio)
  -- discriminator
  hidden_reward = {256, 256}, lr_reward = 3e-4, l2_penalty = 1e-5, reward_steps = 1,
  reward_logpi = true,      -- r = f - log pi (true) or r = f (SAC adds the entropy term itself)
  -- r = softplus(f - log pi) = -log(1 - D) instead of log D - log(1 - D): on tasks that end when the robot
  -- falls, the paper's reward is negative on the agent's rows and SAC learns to fall at once (hopper quick:
  -- eval return 3-5 by step 4000); the positive form keeps D and f and removes that incentive (Kostrikov et
  -- al. 2019, "Discriminator-Actor-Critic", on the termination bias). false = the paper's reward.
  reward_positive = true,
  max_reward = 10,          -- rewards clipped to +-max_reward
  -- online loop (§2.8)
  buffer_size = 1000000, update_after = 2000, steps_per_epoch = 1000, epochs = 1000,
  max_episode_steps = 1000, eval_episodes = 1,
  checkpoint_every = 20000, print_every_s = 10,
  presets = {
    quick = {epochs = 20, update_after = 1000, checkpoint_every = 5000, eval_episodes = 3},
  },
}
