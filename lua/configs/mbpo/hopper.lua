return {env = "hopper"}
