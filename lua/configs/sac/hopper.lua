return {env = "hopper", medium_level = 1422}
