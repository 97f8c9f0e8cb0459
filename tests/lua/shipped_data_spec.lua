-- The data we ship: every file under data/<env>/ loads with the data layer, is listed in
-- data/README.md's "Measured" table, and that table's figures are re-measured here from the files
-- (datasets exactly; policy files by 10 fresh stochastic rollouts). Expert demonstrations must reach the
-- protocol's levels. Nothing is retrained.
local cil = require "cleanil"
local info = loadfile(CLEANIL_LUA_DIR .. "/tools/datainfo.lua")("--module")
local root = CLEANIL_LUA_DIR .. "/../data/"
local LEVEL = {hopper = 3000, walker2d = 3500, halfcheetah = 8000} -- protocol.md, expert quality
local TASKS = {"hopper", "walker2d", "halfcheetah"}

local function num(s) return tonumber((s:gsub(",", ""))) end
-- the text of data/README.md's section "## TITLE" (nil if there is none)
local function readme_section(title)
  local f = assert(io.open(root .. "README.md"))
  local text = f:read("a")
  f:close()
  return text:match("\n## " .. title .. "[^\n]*\n(.-)\n## ") or text:match("\n## " .. title .. "[^\n]*\n(.*)$")
end
-- rows of the table under "## Measured": name -> {rows, episodes, mean, std}
local function readme_table()
  local section = readme_section("Measured")
  assert(section, "data/README.md has no '## Measured' section")
  local rows = {}
  for line in section:gmatch("[^\n]+") do
    local name, r, e, m, s = line:match("^| `([%w_]+/[%w_.]+)` | ([^|]-) | ([^|]-) | ([%d.-]+) ± ([%d.]+) |")
    if name then rows[name] = {rows = r ~= "—" and num(r) or nil, episodes = num(e:match("[%d,]+")), mean = tonumber(m), std = tonumber(s)} end
  end
  return rows
end
local function shipped_files()
  -- files shipped in parts are joined (and checked) first, as on first use by an algorithm
  for _, env in ipairs(TASKS) do
    local p = io.popen("ls " .. root .. env .. "/*.h5.part-00 2>/dev/null")
    for part in p:lines() do cil.shipped.path(env, part:match("([^/]+)%.h5%.part%-00$")) end
    p:close()
  end
  local files = {}
  for _, env in ipairs(TASKS) do
    local p = io.popen("ls " .. root .. env .. "/*.h5 2>/dev/null")
    for path in p:lines() do   -- medium_expert.h5 is made on first use (shipped.lua), not shipped
      -- ensemble_*.h5 are models, checked against their own table below
      if not path:match("/medium_expert%.h5$") and not path:match("/ensemble_[%w_]+%.h5$") then
        files[#files + 1] = {env = env, path = path, name = env .. "/" .. path:match("([^/]+)$")}
      end
    end
    p:close()
  end
  return files
end

-- rows of the table under "## Ensembles": name -> {rows, epochs, mae, nll, ratio}
local function ensemble_table()
  local section = readme_section("Ensembles") or ""
  local rows = {}
  for line in section:gmatch("[^\n]+") do
    local name, r, e, m, n, q = line:match("^| `([%w_]+/ensemble_[%w_]+%.h5)` | ([%d,]+) | (%d+)[^|]* | ([%d.]+) | ([%d.-]+) | ([%d.]+) |")
    if name then rows[name] = {rows = num(r), epochs = tonumber(e), mae = tonumber(m), nll = tonumber(n), ratio = tonumber(q)} end
  end
  return rows
end

describe("shipped data", function()
  local table_rows, files = readme_table(), shipped_files()

  it("exists for every task and every file is documented", function()
    for _, env in ipairs(TASKS) do
      local has = false
      for _, f in ipairs(files) do has = has or f.env == env end
      assert.is_true(has, "no data for " .. env)
    end
    for _, f in ipairs(files) do
      assert.is_truthy(table_rows[f.name], f.name .. " is not in data/README.md's Measured table")
    end
    for name in pairs(table_rows) do
      local ok = io.open(root .. name)
      assert.is_truthy(ok, "data/README.md lists " .. name .. ", which is not shipped")
      ok:close()
    end
  end)

  it("datasets load and match the README's figures; files stay under 25 MB", function()
    for _, f in ipairs(files) do
      local want = table_rows[f.name]
      local got = info.measure(f.path)
      local parts = io.popen("ls " .. f.path .. ".part-* 2>/dev/null")
      local nparts = 0
      for part in parts:lines() do                          -- shipped in parts: each part under 25 MB
        nparts = nparts + 1
        local h = assert(io.open(part, "rb"))
        assert.is_true(h:seek("end") < 25e6, part .. " is larger than 25 MB")
        h:close()
      end
      parts:close()
      if nparts == 0 then assert.is_true(got.size < 25, f.name .. " is larger than 25 MB") end
      if not got.policy then
        assert.equal(want.rows, got.rows, f.name .. " rows")
        assert.equal(want.episodes, got.episodes, f.name .. " complete episodes")
        assert.near(want.mean, got.mean, 0.051, f.name .. " mean return")
        assert.near(want.std, got.std, 0.051, f.name .. " std of returns")
        local d = cil.data.load_d4rl(f.path)
        assert.equal(cil.env.spec(f.env).obs_dim, d.observations:size(2))
        assert.equal(cil.env.spec(f.env).act_dim, d.actions:size(2))
        assert.is_true(d.actions:abs():max():item() <= 1, f.name .. " has actions outside [-1, 1]")
      end
    end
  end)

  it("policy files roll out to the README's returns (10 stochastic episodes, within 3 standard errors)", function()
    for _, f in ipairs(files) do
      local want = table_rows[f.name]
      if f.name:match("_policy%.h5$") then
        local got = info.measure(f.path)
        local se = math.max(want.std, got.std) / math.sqrt(10)
        assert.is_true(math.abs(got.mean - want.mean) <= 3 * se + 1,
          string.format("%s: rolled out %.1f, README says %.1f (3 SE = %.1f)", f.name, got.mean, want.mean, 3 * se))
      end
    end
  end)

  it("expert demonstrations reach the protocol's levels, with at least 50 complete episodes", function()
    for _, f in ipairs(files) do
      if f.name:match("/expert%.h5$") then
        local got = info.measure(f.path)
        assert.is_true(got.episodes >= 50, f.name .. ": fewer than 50 episodes")
        assert.is_true(got.mean >= LEVEL[f.env],
          string.format("%s: mean return %.1f below the protocol's %d", f.name, got.mean, LEVEL[f.env]))
      end
    end
  end)
  it("carry no path of the machine that made them (every string attribute and string dataset)", function()
    -- h5py is an independent reader (setup.sh installs it); absolute paths and home-relative paths fail
    local py = [==[
import h5py, sys
bad = []
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        def check(where, v):
            if isinstance(v, bytes): v = v.decode("utf-8", "replace")
            if isinstance(v, str) and any(t in v for t in ("/tmp/", "/root", "/home/", "/work/", "/usr/", "~/")) or (isinstance(v, str) and v.startswith("/")):
                bad.append("%s:%s = %r" % (path.split("/data/")[-1], where, v))
        def visit(name, obj):
            for k, v in obj.attrs.items(): check(name + "@" + k, v)
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "SOU":
                for v in (obj[()].ravel() if obj.shape else [obj[()]]): check(name, v)
        for k, v in f.attrs.items(): check("@" + k, v)
        f.visititems(visit)
print("\n".join(bad) if bad else "clean")
]==]
    local script = os.tmpname()
    local f = assert(io.open(script, "w")); f:write(py); f:close()
    local names = {}
    for _, x in ipairs(files) do names[#names + 1] = x.path end
    local p = io.popen("/usr/bin/python3 " .. script .. " " .. table.concat(names, " ") .. " 2>&1")
    local out = p:read("a"); p:close(); os.remove(script)
    assert.are.equal("clean\n", out)
    assert.is_true(#names >= 12)
  end)

  it("pretrained ensembles load, match data/README.md's Ensembles table and beat no-change by 2x", function()
    local want = ensemble_table()
    local n = 0
    for _, env in ipairs(TASKS) do
      local p = io.popen("ls " .. root .. env .. "/ensemble_*.h5 2>/dev/null")
      for path in p:lines() do
        n = n + 1
        local name = env .. "/" .. path:match("([^/]+)$")
        local w = want[name]
        assert.is_truthy(w, name .. " is not in data/README.md's Ensembles table")
        local dyn, t = cil.load_dynamics(path, env)
        local elites = dyn.elites
        local mae, nll = 0, 0
        for _, e in ipairs(elites) do mae, nll = mae + t.heldout_mae[e] / #elites, nll + t.heldout_nlogp[e] / #elites end
        assert.equal(w.rows, t.rows, name .. " rows")
        assert.equal(w.epochs, t.epochs, name .. " epochs")
        assert.near(w.mae, mae, 5e-5, name .. " held-out MAE")
        assert.near(w.nll, nll, 5e-4, name .. " held-out NLL")
        -- re-measured on 5,000 rows of its data (medium_expert: the expert's, which it holds; that file
        -- is made on first use): elite observation MAE against predicting no change, normalized units
        local ds = t.dataset == "medium_expert" and "expert" or t.dataset
        local d = cil.data.load_d4rl(cil.shipped.path(env, ds))
        d = cil.data.select(d, cil.arange(1, math.min(5000, cil.data.num_rows(d)) + 1))
        local o = cil.data.normalize(d.observations, t.obs_mean, t.obs_std)
        local dy = cil.data.normalize(d.next_observations, t.obs_mean, t.obs_std) - o
        local O = o:size(2)
        local ratio = cil.no_grad(function()
          local mu = dyn:forward(cil.cat({o, d.actions}, 2))
          local per = (mu:narrow(3, 1, O) - dy):abs():mean(3):mean(2):totable()
          local m = 0
          for _, e in ipairs(elites) do m = m + per[e] / #elites end
          return m / dy:abs():mean():item()
        end)
        assert.is_true(ratio <= 0.5, string.format("%s: observation MAE %.3f of no-change's", name, ratio))
        assert.is_true(ratio <= 2 * w.ratio + 0.05, string.format("%s: re-measured %.3f of no-change, README %.3f", name, ratio, w.ratio))
      end
      p:close()
    end
    for name in pairs(want) do
      local f = io.open(root .. name)
      assert.is_truthy(f, "data/README.md lists " .. name .. ", which is not shipped")
      f:close()
    end
  end)
end)
