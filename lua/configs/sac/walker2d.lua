return {env = "walker2d", medium_level = 2852}
