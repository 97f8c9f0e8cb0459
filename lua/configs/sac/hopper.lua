return {env = "hopper", medium_return = 1000}
