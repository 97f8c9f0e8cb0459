-- The default demo (for now): fit a small MLP to a toy regression.
-- run: ./setup.sh demo   or   cleanil examples/demo.lua
dofile(CLEANIL_LUA_DIR .. "/../examples/toy_regression.lua")
