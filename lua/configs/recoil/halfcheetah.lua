return {env = "halfcheetah", grad_penalty = 10}
