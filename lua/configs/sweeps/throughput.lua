-- The local pool's throughput (README, "Sweeps"): 4 BC runs of 1 thread each, the quick preset.
--   time cleanil tools/sweep.lua lua/configs/sweeps/throughput.lua --workers=2   # the pool on 2 cores
--   rm -rf runs/sweeps/throughput
--   time cleanil tools/sweep.lua lua/configs/sweeps/throughput.lua --workers=1   # one after another
return {
  name = "throughput",
  algorithms = {"bc"},
  tasks = {"hopper"},
  seeds = {0, 1, 2, 3},
  preset = "quick",
  threads = 1,
  out = "runs/sweeps/throughput",
}
