-- Runs busted inside the cleanil executable, so specs can `require "cleanil"`.
-- usage: cleanil tests/busted.lua SPEC_FILE_OR_DIR [busted options]
package.path = package.path .. ";/usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua"
-- the specs' shared helpers (tests/lua/support.lua), found beside this file
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
package.path = package.path .. ";" .. here .. "/lua/?.lua"
package.cpath = package.cpath .. ";/usr/lib/x86_64-linux-gnu/lua/5.4/?.so"
require "busted.runner" ({ standalone = false, output = "utfTerminal" })
