return {env = "walker2d"}
