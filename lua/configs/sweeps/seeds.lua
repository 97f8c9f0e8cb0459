-- The results table over seeds: BC on the three tasks and GAIL, at the reference's full budgets, 5 seeds
-- each (30 runs). cleanil tools/sweep.lua lua/configs/sweeps/seeds.lua [--backend=slurm]; then
-- cleanil tools/summarize.lua runs/sweeps/seeds (README, "Sweeps").
return {
  name = "seeds",
  algorithms = {"bc", "gail"},
  tasks = {"halfcheetah", "hopper", "walker2d"},
  seeds = {0, 1, 2, 3, 4},
  threads = 1,
  out = "runs/sweeps/seeds",
  -- on a cluster: one array task per run; GAIL's 1M steps take ~7 h on one core, BC ~20 min. A task
  -- stopped at its time limit checkpoints (SIGUSR1 300 s before) and requeues itself to continue.
  slurm = {time = "08:00:00", mem = "4G", signal_seconds = 300},
}
