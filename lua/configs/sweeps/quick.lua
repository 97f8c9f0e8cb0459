-- A small sweep to try the tools on: BC and GAIL on hopper with their quick presets, 2 seeds each
-- (a few minutes on 2 cores). cleanil tools/sweep.lua lua/configs/sweeps/quick.lua
return {
  name = "quick",
  algorithms = {"bc", "gail"},
  tasks = {"hopper"},
  seeds = {0, 1},
  preset = "quick",
  threads = 1,
  out = "runs/sweeps/quick",
  slurm = {time = "00:30:00", mem = "2G", signal_seconds = 60},
}
