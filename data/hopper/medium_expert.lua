-- figures of the shipped data/hopper/medium_expert.h5 (tools/medium_expert.lua --record)
return {
  envs = 100,
  expert = {
    episodes = 1002,
    return_mean = 3448.369803994,
    return_std = 125.89731924442,
  },
  medium = {
    episodes = 1774,
    return_mean = 1740.9143131989,
    return_std = 700.46606816147,
  },
  rows = 2000000,
  rows_per_part = 1000000,
  seed = 7,
}
