return {env = "halfcheetah", medium_level = 4770}
