return {env = "walker2d", epochs = 500}
