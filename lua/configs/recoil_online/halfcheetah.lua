return {env = "halfcheetah", td_penalty = 0.2}
