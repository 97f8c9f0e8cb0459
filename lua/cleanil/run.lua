-- The run experience every algorithm shares: configs with command-line overrides and --help, a run
-- directory, CSV logs, console progress with ETA, evaluation, atomic checkpoints and --resume.
return function(cil)
  local run = {}

  ---------------------------------------------------------------------------- configs
  local function read_config(path)
    local chunk, err = loadfile(path, "t", {math = math})
    if not chunk then return nil, err end
    local ok, t = pcall(chunk)
    if not ok then error(string.format("config %s: %s", path, t), 0) end
    return t
  end

  local function merge(dst, src)
    for k, v in pairs(src or {}) do dst[k] = v end
    return dst
  end

  local function typename(v)
    if type(v) == "table" then return "list" end
    return math.type(v) == "integer" and "integer" or type(v)
  end

  -- parse "value" against the type of the default
  local function coerce(key, s, default)
    local want = typename(default)
    if want == "boolean" then
      if s == "true" or s == "1" or s == "" then return true end
      if s == "false" or s == "0" then return false end
    elseif want == "integer" then
      local n = tonumber(s)
      if n and n == math.floor(n) then return math.tointeger(n) end
    elseif want == "number" then
      local n = tonumber(s)
      if n then return n end
    elseif want == "list" then
      local out = {}
      for item in s:gmatch("[^,]+") do out[#out + 1] = tonumber(item) or item end
      return out
    else
      return s
    end
    error(string.format("--%s=%s: expected %s (default %s)", key, s, want, tostring(default)), 0)
  end

  local function closest(key, cfg)
    local best, bd = nil, math.huge
    for k in pairs(cfg) do
      -- edit distance, small strings
      local a, b = key, k
      local prev = {}
      for j = 0, #b do prev[j] = j end
      for i = 1, #a do
        local cur = {[0] = i}
        for j = 1, #b do
          cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a:sub(i, i) == b:sub(j, j) and 0 or 1))
        end
        prev = cur
      end
      if prev[#b] < bd then best, bd = k, prev[#b] end
    end
    return bd <= 3 and best or nil
  end

  local function show(v)
    if type(v) == "table" then
      local s = {}
      for i, x in ipairs(v) do s[i] = tostring(x) end
      return table.concat(s, ",")
    end
    return tostring(v)
  end

  -- cli args -> {key=string}, flags
  local function parse_args(args)
    local kv, order = {}, {}
    for _, a in ipairs(args or {}) do
      local k, v = a:match("^%-%-([%w_%-]+)=(.*)$")
      if not k then k = a:match("^%-%-([%w_%-]+)$"); v = "" end
      if not k then error(string.format("unexpected argument '%s' (options are --key=value)", a), 0) end
      k = k:gsub("%-", "_")
      kv[k] = v
      order[#order + 1] = k
    end
    return kv, order
  end

  -- Load lua/configs/<algo>/common.lua + <env>.lua, apply a preset and --key=value overrides.
  -- Unknown keys and badly typed values are errors. Returns cfg and the parsed flags.
  function run.config(algo, args, description)
    local kv = parse_args(args)
    local dir = CLEANIL_LUA_DIR .. "/configs/" .. algo
    local common = read_config(dir .. "/common.lua") or {}
    local env = kv.env or common.env or "hopper"
    local envcfg, err = read_config(dir .. "/" .. env .. ".lua")
    if not envcfg then
      if kv.help then envcfg = {} else
        error(string.format("%s: no config for env '%s' (%s)", algo, env, err), 0)
      end
    end
    local cfg = merge(merge({}, common), envcfg)
    local presets = cfg.presets or {}
    cfg.presets = nil
    cfg.env = cfg.env or env
    local defaults = merge({}, cfg)
    local flags = {help = kv.help ~= nil, resume = kv.resume, out = kv.out, preset = kv.preset}
    if kv.help then
      print(string.format("cleanil algorithms/%s.lua - %s\n", algo, description or ""))
      print("usage: cleanil algorithms/" .. algo .. ".lua [--env=NAME] [--preset=NAME] [--key=value ...]")
      print("       [--out=DIR] [--resume[=DIR]]\n")
      print("config keys (defaults for env " .. env .. "):")
      local keys = {}
      for k in pairs(cfg) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do print(string.format("  --%-22s %-10s %s", k, typename(cfg[k]), show(cfg[k]))) end
      local pn = {}
      for k in pairs(presets) do pn[#pn + 1] = k end
      table.sort(pn)
      if #pn > 0 then print("\npresets: " .. table.concat(pn, ", ")) end
      return cfg, flags
    end
    if kv.preset then
      local p = presets[kv.preset]
      if not p then error(string.format("%s: unknown preset '%s'", algo, kv.preset), 0) end
      merge(cfg, p)
    end
    for k, v in pairs(kv) do
      if k ~= "help" and k ~= "resume" and k ~= "out" and k ~= "preset" then
        if defaults[k] == nil then
          local guess = closest(k, defaults)
          error(string.format("%s: unknown config key '%s'%s (see --help)", algo, k,
            guess and (" (did you mean '" .. guess .. "'?)") or ""), 0)
        end
        cfg[k] = coerce(k, v, defaults[k])
      end
    end
    return cfg, flags
  end

  ---------------------------------------------------------------------------- files
  local function exists(p) local f = io.open(p, "r"); if f then f:close(); return true end; return false end
  run.exists = exists
  -- replace a text file's lines atomically (a temporary file renamed over it)
  local function rewrite_lines(path, lines)
    local tmp = path .. ".tmp"
    local f = assert(io.open(tmp, "w"))
    for _, line in ipairs(lines) do assert(f:write(line, "\n")) end
    assert(f:close())                                         -- a full disk stops here, not at the rename
    assert(os.rename(tmp, path))
  end
  local function mkdir_p(p) os.execute("mkdir -p '" .. p:gsub("'", "'\\''") .. "'") end
  run.mkdir_p = mkdir_p

  local function serialize(v, indent)
    indent = indent or ""
    if type(v) == "table" then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      local out = {"{\n"}
      for _, k in ipairs(keys) do
        local key = type(k) == "number" and ("[" .. k .. "]") or k
        out[#out + 1] = indent .. "  " .. key .. " = " .. serialize(v[k], indent .. "  ") .. ",\n"
      end
      return table.concat(out) .. indent .. "}"
    elseif type(v) == "string" then
      return string.format("%q", v)
    end
    return tostring(v)
  end
  run.serialize = serialize
  local function same_value(a, b) -- numbers by value (a checkpoint may give 1.0 for 1), tables deeply
    if type(a) == "table" and type(b) == "table" then
      for k, v in pairs(a) do if not same_value(v, b[k]) then return false end end
      for k in pairs(b) do if a[k] == nil then return false end end
      return true
    end
    return a == b
  end

  ---------------------------------------------------------------------------- the Run object
  local Run = {}
  Run.__index = Run

  -- start(algo, cfg, flags): make (or reopen, with --resume) the run directory
  function run.start(algo, cfg, flags)
    local self = setmetatable({algo = algo, cfg = cfg, t0 = cil.sys.clock(), last_print = 0}, Run)
    local dir = flags.out
    if flags.resume and flags.resume ~= "" then dir = flags.resume end
    if not dir or dir == "" then
      dir = string.format("runs/%s-%s%s-seed%d%s", algo, cfg.env, cfg.dataset and ("-" .. cfg.dataset) or "", cfg.seed or 0,
        flags.preset and ("-" .. flags.preset) or "")
    end
    self.dir = dir
    self.resuming = flags.resume ~= nil and exists(dir .. "/checkpoint.h5")
    if flags.resume ~= nil and not self.resuming then
      print(string.format("[%s] --resume: no checkpoint in %s, starting fresh", algo, dir))
    end
    mkdir_p(dir)
    local f = assert(io.open(dir .. "/config.lua", "w"))
    f:write("-- resolved config of this run\nreturn ", serialize(cfg), "\n")
    f:close()
    self.csv_path = dir .. "/log.csv"
    self.tb = cil.tensorboard.writer(dir)   -- TensorBoard scalars next to the CSV
    return self
  end

  -- The prologue of every algorithm script: config + overrides (nil after --help), the run directory,
  -- thread count, seeds. Returns cfg, run, rng (the generator of the run's random draws).
  function run.begin(algo, args, description)
    local cfg, flags = run.config(algo, args, description)
    if flags.help then return nil end
    local r = run.start(algo, cfg, flags)
    cil.set_num_threads(cfg.threads)
    cil.manual_seed(cfg.seed)
    return cfg, r, cil.rng(cfg.seed)
  end

  -- CSV: a fixed column set per file, chosen at the first row (later new keys go to TensorBoard only).
  -- A resumed run continues its file; columns its first row brings that the file lacks (a script that
  -- logs more since) are added at the end, empty in the rows before.
  function Run:log(row)
    local headerless = false                                  -- a resumed run's empty log.csv
    if not self.csv and self.resuming and exists(self.csv_path) then
      local lines = {}
      for line in io.lines(self.csv_path) do lines[#lines + 1] = line end
      if lines[1] and lines[1] ~= "" then
        local cols, have, added = {}, {}, {}
        for c in lines[1]:gmatch("[^,]+") do cols[#cols + 1] = c; have[c] = true end
        for k in pairs(row) do if not have[k] then added[#added + 1] = k end end
        table.sort(added)
        if #added > 0 then
          for _, k in ipairs(added) do cols[#cols + 1] = k end
          local pad = string.rep(",", #added)
          lines[1] = table.concat(cols, ",")
          for i = 2, #lines do lines[i] = lines[i] .. pad end
          rewrite_lines(self.csv_path, lines)
        end
        self.csv_cols = cols
        self.csv = assert(io.open(self.csv_path, "a"))
      else
        headerless = true                                     -- start it afresh
      end
    end
    if not self.csv then
      local keys = {}
      for k in pairs(row) do keys[#keys + 1] = k end
      table.sort(keys, function(a, b)
        if a == "step" then return true elseif b == "step" then return false end
        return a < b
      end)
      self.csv_cols = keys
      local fresh = not (self.resuming and exists(self.csv_path)) or headerless
      self.csv = assert(io.open(self.csv_path, fresh and "w" or "a"))
      if fresh then self.csv:write(table.concat(keys, ","), "\n") end
    end
    local vals = {}
    for i, k in ipairs(self.csv_cols) do
      local v = row[k]
      vals[i] = v == nil and "" or (math.type(v) == "float" and string.format("%.6g", v) or tostring(v))
    end
    self.csv:write(table.concat(vals, ","), "\n")
    self.csv:flush()
    if self.tb then self.tb:scalars(row.step or 0, row) end
  end

  -- a run's log.csv as numbers: {column name = {value of each row (nil where empty)}}, and the header
  function run.read_log(path)
    local f = io.open(path)
    if not f then error("no " .. path .. " (not a run directory?)", 0) end
    local header = f:read("l") or ""
    local names, cols = {}, {}
    for c in header:gmatch("[^,]+") do names[#names + 1] = c; cols[c] = {} end
    local n = 0
    for line in f:lines() do
      n = n + 1
      local i = 0
      for c in (line .. ","):gmatch("([^,]*),") do
        i = i + 1
        if names[i] then cols[names[i]][n] = tonumber(c) end
      end
    end
    f:close()
    return cols, header, n
  end

  -- truncate log.csv to rows with step <= step (used on resume so the log has no duplicates)
  function Run:trim_log(step)
    if not exists(self.csv_path) then return end
    local keep = {}
    for line in io.lines(self.csv_path) do
      local s = tonumber(line:match("^([^,]*)"))
      if #keep == 0 or (s and s <= step) then keep[#keep + 1] = line end
    end
    rewrite_lines(self.csv_path, keep)
  end

  local function hms(s)
    if s ~= s or s == math.huge then return "?" end
    s = math.floor(s)
    return string.format("%dh%02dm%02ds", s // 3600, (s % 3600) // 60, s % 60)
  end

  -- console progress, at most every `every` seconds (and always when force)
  function Run:progress(step, total, extra, force)
    local now = cil.sys.clock()
    if not force and now - self.last_print < (self.cfg.print_every_s or 10) then return end
    self.rate_mark = self.rate_mark or {now, step}
    local dt = now - self.rate_mark[1]
    local rate = dt > 0 and (step - self.rate_mark[2]) / dt or 0
    self.rate_mark = {now, step}
    self.last_print = now
    self.rate = rate
    local eta = rate > 0 and (total - step) / rate or math.huge
    print(string.format("[%s %s] step %d/%d (%.1f%%) | %.1f steps/s | elapsed %s | ETA %s%s",
      self.algo, self.cfg.env, step, total, 100 * step / total, rate, hms(now - self.t0), hms(eta),
      extra and (" | " .. extra) or ""))
    io.stdout:flush()
  end

  function Run:checkpoint_path() return self.dir .. "/checkpoint.h5" end
  -- the checkpoint to resume from; says which config values differ from the ones it was saved with
  -- (a resumed run repeats an uninterrupted one only under the same config, threads included)
  function Run:load_checkpoint()
    local ck = cil.checkpoint.load(self:checkpoint_path())
    if type(ck.config) == "table" then
      local diff, keys = {}, {}
      local cosmetic = {print_every_s = true, checkpoint_every = true}   -- cannot change the results
      for k in pairs(self.cfg) do if not cosmetic[k] then keys[#keys + 1] = k end end
      for k in pairs(ck.config) do if self.cfg[k] == nil and not cosmetic[k] then keys[#keys + 1] = k end end
      table.sort(keys)
      for _, k in ipairs(keys) do
        if not same_value(self.cfg[k], ck.config[k]) then
          local now, was = serialize(self.cfg[k]):gsub("%s+", " "), serialize(ck.config[k]):gsub("%s+", " ")
          diff[#diff + 1] = string.format("%s = %s (checkpoint: %s)", k, now, was)
        end
      end
      if #diff > 0 then
        print(string.format("[%s %s] resuming with a config that differs from the checkpoint's: %s", self.algo,
          self.cfg.env, table.concat(diff, ", ")))
      end
    end
    return ck
  end
  function Run:write_json(name, t)
    local function enc(v)
      if type(v) == "table" then
        if #v > 0 or next(v) == nil then
          local s = {}
          for i, x in ipairs(v) do s[i] = enc(x) end
          return "[" .. table.concat(s, ", ") .. "]"
        end
        local keys = {}
        for k in pairs(v) do keys[#keys + 1] = k end
        table.sort(keys)
        local s = {}
        for _, k in ipairs(keys) do s[#s + 1] = string.format("%q: %s", k, enc(v[k])) end
        return "{" .. table.concat(s, ", ") .. "}"
      elseif type(v) == "number" then
        if v ~= v or v == math.huge or v == -math.huge then return "null" end
        return string.format("%.6g", v)
      elseif type(v) == "string" then return string.format("%q", v) end
      return tostring(v)
    end
    local f = assert(io.open(self.dir .. "/" .. name, "w"))
    f:write(enc(t), "\n")
    f:close()
  end
  run.Run = Run

  ---------------------------------------------------------------------------- evaluation
  -- Run one episode per env of a vectorized env, all at once; obs_fn optionally normalizes
  -- observations. Actions are the deterministic tanh(mu), or samples of the policy when opts.rng is
  -- given; opts.seed (or opts itself, a number) reseeds the envs' starts. Returns the list of undiscounted
  -- returns and the number of episodes that ended by termination (a fall) before the time limit.
  function run.evaluate(env, actor, obs_fn, opts)
    opts = type(opts) == "number" and {seed = opts} or opts
    local N = env.num_envs
    local rng = opts and opts.rng
    local obs = env:reset(opts and opts.seed)
    local ret, done, left, falls = {}, {}, N, 0
    for i = 1, N do ret[i], done[i] = 0, false end
    while left > 0 do
      cil.reset()
      local o = obs_fn and obs_fn(obs) or obs
      local a = rng and cil.no_grad(function() return actor(o):sample(rng) end) or actor:act_deterministic(o)
      local o2, r, term, trunc = env:step(a)
      for i = 1, N do
        if not done[i] then
          ret[i] = ret[i] + r[i]
          if term[i] > 0 then falls = falls + 1 end
          if term[i] > 0 or trunc[i] > 0 then done[i] = true; left = left - 1 end
        end
      end
      obs = o2
    end
    return ret, falls
  end

  -- The seed of the evaluation after training step `step`: evaluations depend on the step alone,
  -- never on earlier evaluations, so a resumed run evaluates exactly as an uninterrupted one.
  function run.eval_seed(cfg, step) return (cfg.seed + 100003) * 1000003 + step end

  -- interquartile mean (mean of the middle 50 %, scipy trim_mean(x, 0.25)) and std
  function run.iqm_std(xs)
    local s = {}
    for i, x in ipairs(xs) do s[i] = x end
    table.sort(s)
    local n = #s
    local cut = math.floor(n * 0.25)
    local sum, cnt = 0, 0
    for i = cut + 1, n - cut do sum = sum + s[i]; cnt = cnt + 1 end
    return cnt > 0 and sum / cnt or 0 / 0, select(2, run.mean_std(s))
  end

  -- mean and sample standard deviation (0 for fewer than two values)
  function run.mean_std(xs)
    local n, mean, var = #xs, 0, 0
    for _, x in ipairs(xs) do mean = mean + x end
    mean = mean / math.max(n, 1)
    for _, x in ipairs(xs) do var = var + (x - mean) ^ 2 end
    return mean, n > 1 and math.sqrt(var / (n - 1)) or 0
  end

  -- the demonstrations a config names (expert, or its older name expert_path; "" = the shipped file)
  function run.expert_name(cfg)
    if cfg.expert and cfg.expert ~= "" then return cfg.expert end
    if cfg.expert_path and cfg.expert_path ~= "" then return cfg.expert_path end
    return cil.data_path(cfg.env, "expert.h5")
  end

  -- mean return of the complete episodes in a demonstration file (demonstrator normalization)
  function run.demo_return(path)
    local ok, d = pcall(cil.data.load_d4rl, path)
    if not ok then return nil end
    local rs = cil.data.episode_returns(d)
    if #rs == 0 then return nil end
    local m = 0
    for _, r in ipairs(rs) do m = m + r / #rs end
    return m
  end

  -- The headline of a run (protocol.md): IQM +- std of the normalized return over the last 30
  -- evaluation episodes, D4RL-normalized and demonstrator-normalized; written to summary.json.
  function run.finish(r, evals, expert_path, loop)
    local last = {}
    for i = math.max(1, #evals - 29), #evals do last[#last + 1] = evals[i] end
    local env = r.cfg.env
    local d4rl, demo = {}, {}
    -- expert_path: the demonstrations' mean return (a number), or a file to measure it from
    local demo_mean = type(expert_path) == "number" and expert_path or (expert_path and run.demo_return(expert_path))
    if expert_path and not demo_mean then
      print(("[%s %s] no demonstrator-normalized score: %s has no complete episode to measure"):format(r.algo, r.cfg.env, tostring(expert_path)))
    end
    for i, R in ipairs(last) do
      d4rl[i] = cil.env.normalized_score(env, R)
      if demo_mean then demo[i] = 100 * R / demo_mean end
    end
    local iqm, std = run.iqm_std(last)
    local s_iqm, s_std = run.iqm_std(d4rl)
    local summary = {algo = r.algo, env = env, seed = r.cfg.seed, evaluations = #evals,
      last_returns = last, return_iqm = iqm, return_std = std, d4rl_score_iqm = s_iqm, d4rl_score_std = s_std}
    local line = string.format("[%s %s] return IQM %.1f +- %.1f over the last %d episodes | D4RL score %.1f +- %.1f",
      r.algo, env, iqm, std, #last, s_iqm, s_std)
    if demo_mean then
      local d_iqm, d_std = run.iqm_std(demo)
      summary.demo_return_mean, summary.demo_score_iqm, summary.demo_score_std = demo_mean, d_iqm, d_std
      line = line .. string.format(" | demonstrator-normalized %.1f +- %.1f", d_iqm, d_std)
    end
    if loop and loop.spent and loop.total_time and loop.total_time > 0 then
      summary.loop_seconds = loop.total_time
      summary.loop_share = {}
      for k, v in pairs(loop.spent) do summary.loop_share[k] = v / loop.total_time end
    end
    r:write_json("summary.json", summary)
    print(line)
    return summary
  end

  return run
end
