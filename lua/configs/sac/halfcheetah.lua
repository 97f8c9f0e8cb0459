return {env = "halfcheetah", medium_return = 3000}
