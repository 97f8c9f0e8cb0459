return {env = "walker2d", td_penalty = 0.2}
