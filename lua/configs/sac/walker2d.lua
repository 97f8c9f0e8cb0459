return {env = "walker2d", medium_return = 1200}
