return {env = "halfcheetah"}
