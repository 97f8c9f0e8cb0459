-- The bfloat16 accuracy study (issue 25): SAC and GAIL quick presets on hopper, 3 seeds each, with every
-- GEMM in float32 and in bfloat16 (float32 sums; parameters, gradients and Adam state float32) — 12 runs.
--   cleanil tools/sweep.lua lua/configs/sweeps/precision.lua
--   cleanil tools/summarize.lua runs/sweeps/precision        (IQM per setting, curves overlaid)
-- On a CPU without AVX512_BF16 the bf16 runs fall back to float32 (one-line notice) and the study says
-- nothing.
return {
  name = "precision",
  algorithms = {"sac", "gail"},
  tasks = {"hopper"},
  seeds = {0, 1, 2},
  preset = "quick",
  overrides = {precision = {"fp32", "bf16"}},
  threads = 1,
  out = "runs/sweeps/precision",
}
