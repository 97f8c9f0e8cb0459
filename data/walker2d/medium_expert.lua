-- figures of the shipped data/walker2d/medium_expert.h5 (tools/medium_expert.lua --record)
return {
  envs = 100,
  expert = {
    episodes = 1017,
    return_mean = 4932.867433059,
    return_std = 649.44797898927,
  },
  medium = {
    episodes = 1264,
    return_mean = 3277.2414837564,
    return_std = 1588.3765172644,
  },
  rows = 2000000,
  rows_per_part = 1000000,
  seed = 7,
}
