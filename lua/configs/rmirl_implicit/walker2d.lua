return {env = "walker2d", grad_target = 100}
