-- figures of the shipped data/halfcheetah/medium_expert.h5 (tools/medium_expert.lua --record)
return {
  envs = 100,
  expert = {
    episodes = 1000,
    return_mean = 10700.122093428,
    return_std = 297.77211821135,
  },
  medium = {
    episodes = 1000,
    return_mean = 4916.0296485253,
    return_std = 371.86225314336,
  },
  rows = 2000000,
  rows_per_part = 1000000,
  seed = 7,
}
