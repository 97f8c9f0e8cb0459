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

  -- What each config key means, by name, for every algorithm: counts are whole numbers >= 1 (or >= 0),
  -- rates and scales finite reals in a range. A key listed as real accepts 0.5 even when its default is
  -- written 1000. Keys not listed keep the type of their default and, if numbers, must be finite.
  local INT_MAX = 2147483647
  local KINDS = {}
  local function kinds(kind, names) for name in names:gmatch("%S+") do KINDS[name] = kind end end
  kinds({int = true, min = 1, what = "a positive whole number"}, [[epochs steps_per_epoch batch_size
    checkpoint_every eval_episodes num_expert_trajs members elites horizon buffer_size model_buffer_size
    max_episode_steps max_epochs max_stale max_eval rollout_batch rollout_every reward_steps threads
    medium_screen medium_episodes expert_episodes num_random envs episodes hidden]])
  kinds({int = true, min = 0, what = "a whole number >= 0"}, "update_after max_rows seed medium_level")
  kinds({min = 0, open_min = true, what = "a finite positive number"}, [[lr lr_actor lr_critic lr_reward
    lr_lam lr_alpha grad_clip min_std max_std max_reward q_max print_every_s]])
  kinds({min = 0, what = "a finite number >= 0"}, [[l2_penalty grad_penalty grad_target alpha lam
    action_noise q_target_penalty]])
  kinds({min = 0, max = 1, what = "a number in [0, 1]"}, [[gamma polyak real_ratio expert_ratio td_penalty
    ibc_penalty]])
  kinds({min = 0, max = 1, open_min = true, open_max = true, what = "a number in (0, 1)"}, "train_ratio eval_ratio")
  run.KINDS = KINDS

  -- nil, or why v is not a valid value of key (numbers: finite, whole where counted, in range)
  local function bad_value(key, v)
    if type(v) == "table" then
      for i, x in ipairs(v) do
        local why = type(x) == "number" and bad_value(key, x)
        if KINDS[key] and type(x) ~= "number" then why = KINDS[key].what end
        if why then return why, i end
      end
      return nil
    end
    if type(v) ~= "number" then return nil end
    local k = KINDS[key]
    if v ~= v or v == math.huge or v == -math.huge then
      return k and k.what or "a finite number"
    end
    if not k then return nil end
    if k.int and (math.type(v) ~= "integer" or v > INT_MAX) then
      if not (v == math.floor(v) and math.abs(v) <= INT_MAX) then
        return ("%s (a whole number up to %d)"):format(k.what, INT_MAX)
      end
    end
    if k.min and (v < k.min or (k.open_min and v == k.min)) then return k.what end
    if k.max and (v > k.max or (k.open_max and v == k.max)) then return k.what end
    return nil
  end

  -- parse "value" against the kind of the key, else the type of the default
  local function coerce(key, s, default)
    local want = typename(default)
    local k = KINDS[key]
    if k and want ~= "list" and (want == "integer" or want == "number") then
      want = k.int and "integer" or "number"
    end
    if want == "integer" then
      local n = tonumber(s)
      if n and n == math.floor(n) and math.tointeger(n) and (not k or math.abs(n) <= INT_MAX) then
        return math.tointeger(n)
      end
      error(string.format("--%s=%s: expected integer%s (default %s)", key, s,
        k and (": " .. k.what .. " up to " .. INT_MAX) or "", tostring(default)), 0)
    end
    if want == "boolean" then
      if s == "true" or s == "1" or s == "" then return true end
      if s == "false" or s == "0" then return false end
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
    error(string.format("--%s=%s: expected %s%s (default %s)", key, s, want,
      (k and want == "number") and (": " .. k.what) or "", tostring(default)), 0)
  end
  run.coerce = coerce

  -- every numeric value of a resolved config in its range; errors name the key, the value and the range
  function run.check_config(algo, cfg, given)
    local keys = {}
    for k in pairs(cfg) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local why, i = bad_value(k, cfg[k])
      if why then
        local v = i and cfg[k][i] or cfg[k]
        local from = given and given[k] and ("--" .. k .. "=" .. given[k]) or (k .. " = " .. tostring(v) .. " (config)")
        error(string.format("%s: %s: %s must be %s%s, got %s", algo, from, k, why,
          i and (" (entry " .. i .. " of the list)") or "", tostring(v)), 0)
      end
    end
    return cfg
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
    -- GEMM precision (every algorithm): "fp32" | "bf16" (GEMM operands rounded to bfloat16, float32
    -- sums); nograd_precision applies to no-gradient work alone (evaluation, relabelling, rollouts)
    if cfg.precision == nil then cfg.precision = "fp32" end
    if cfg.nograd_precision == nil then cfg.nograd_precision = "fp32" end
    local presets = cfg.presets or {}
    cfg.presets = nil
    cfg.env = cfg.env or env
    local defaults = merge({}, cfg)
    local flags = {help = kv.help ~= nil, resume = kv.resume, out = kv.out, preset = kv.preset,
      force_resume = kv.force_resume ~= nil}
    if kv.help then
      print(string.format("cleanil algorithms/%s.lua - %s\n", algo, description or ""))
      print("usage: cleanil algorithms/" .. algo .. ".lua [--env=NAME] [--preset=NAME] [--key=value ...]")
      print("       [--out=DIR] [--resume[=DIR]] [--force_resume]\n")
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
    local given = {}
    for k, v in pairs(kv) do
      if k ~= "help" and k ~= "resume" and k ~= "out" and k ~= "preset" and k ~= "force_resume" then
        if defaults[k] == nil then
          local guess = closest(k, defaults)
          error(string.format("%s: unknown config key '%s'%s (see --help)", algo, k,
            guess and (" (did you mean '" .. guess .. "'?)") or ""), 0)
        end
        cfg[k] = coerce(k, v, defaults[k])
        given[k] = v
      end
    end
    run.check_config(algo, cfg, given)
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
  -- make a directory and its parents; an error naming the directory if it cannot be made
  local function mkdir_p(p)
    local h = io.popen("mkdir -p '" .. p:gsub("'", "'\\''") .. "' 2>&1")
    local out = h and h:read("a") or ""
    local ok = h and h:close()
    if not ok or not cil.sys.listdir(p) then
      local why = out:match("mkdir: [^:]*: ([^\n]+)") or out:gsub("%s+$", "")
      error(string.format("cannot create the directory %s (%s)", p, why ~= "" and why or "not a directory"), 0)
    end
  end
  run.mkdir_p = mkdir_p

  -- remove "<name>.tmp-<pid>" files of processes that no longer run (interrupted atomic writes)
  function run.remove_stale_tmp(dir)
    local removed = {}
    for _, name in ipairs(cil.sys.listdir(dir) or {}) do
      local pid = name:match("%.tmp%-(%d+)$")
      pid = pid and math.tointeger(tonumber(pid))
      if pid and pid ~= cil.sys.getpid() and not cil.sys.pid_alive(pid) then
        if os.remove(dir .. "/" .. name) then removed[#removed + 1] = name end
      end
    end
    return removed
  end

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
    if flags.force_resume and flags.resume == nil then
      error(string.format("[%s] --force_resume goes with --resume", algo), 0)
    end
    if flags.resume ~= nil and not self.resuming then
      print(string.format("[%s] --resume: no checkpoint in %s, starting fresh", algo, dir))
    end
    self.force_resume = flags.force_resume
    mkdir_p(dir)
    local stale = run.remove_stale_tmp(dir)
    if #stale > 0 then
      print(string.format("[%s] removed %d unfinished temporary file(s) of an interrupted run: %s", algo, #stale,
        table.concat(stale, ", ")))
    end
    local f, err = io.open(dir .. "/config.lua", "w")
    if not f then error(string.format("cannot write to the run directory %s: %s", dir, err), 0) end
    local ok, werr = f:write("-- resolved config of this run\nreturn ", serialize(cfg), "\n")
    local closed, cerr = f:close()
    if not ok or not closed then
      error(string.format("cannot write %s/config.lua: %s", dir, tostring(werr or cerr)), 0)
    end
    self.csv_path = dir .. "/log.csv"
    self.tb = cil.tensorboard.writer(dir)   -- TensorBoard scalars next to the CSV
    return self
  end

  -- bf16 asked for on a CPU that has vdpbf16ps but runs it no faster than float32 FMAs (Intel Sapphire
  -- and Emerald Rapids issue one per cycle against two FMAs: 0.50x float32's peak, bench/bf16.lua): say
  -- so in one line, from a 20 ms register-loop measurement of each; the run goes on in bf16 as asked.
  function run.bf16_notice(algo, cfg)
    if cfg.precision ~= "bf16" and cfg.nograd_precision ~= "bf16" then return end
    local _, _, supported = cil.precision()
    if not supported then return end -- the engine's own notice: bf16 runs float32 here
    local pb, pf = cil.sys.peak_gflops("bf16", 0.02), cil.sys.peak_gflops("fma", 0.02)
    if pb and pf and pb < 1.2 * pf then
      io.stderr:write(("%s: note: this CPU's bf16 dot products peak at %.0f GFLOP/s against %.0f for float32 FMAs "
        .. "(%.2fx), so bf16 GEMMs are not faster here; continuing in bf16 as asked\n"):format(algo, pb, pf, pb / pf))
    end
  end

  -- The prologue of every algorithm script: config + overrides (nil after --help), the run directory,
  -- thread count, seeds. Returns cfg, run, rng (the generator of the run's random draws).
  function run.begin(algo, args, description)
    local cfg, flags = run.config(algo, args, description)
    if flags.help then return nil end
    for _, k in ipairs({"precision", "nograd_precision"}) do
      if cfg[k] ~= "fp32" and cfg[k] ~= "bf16" then
        error(string.format("%s: --%s must be fp32 or bf16, got %s", algo, k, tostring(cfg[k])), 0)
      end
    end
    local r = run.start(algo, cfg, flags)
    cil.set_num_threads(cfg.threads)
    cil.set_precision(cfg.precision, {no_grad = cfg.precision == "bf16" and "bf16" or cfg.nograd_precision})
    run.bf16_notice(algo, cfg)
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
      if fresh then assert(self.csv:write(table.concat(keys, ","), "\n")) end
    end
    local vals = {}
    for i, k in ipairs(self.csv_cols) do
      local v = row[k]
      vals[i] = v == nil and "" or (math.type(v) == "float" and string.format("%.6g", v) or tostring(v))
    end
    local ok, err = self.csv:write(table.concat(vals, ","), "\n")
    if ok then ok, err = self.csv:flush() end
    if not ok then
      error(string.format("cannot write %s: %s (the row of step %s is lost)", self.csv_path, tostring(err),
        tostring(row.step)), 0)
    end
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
    self:trim_events(step)
    if not exists(self.csv_path) then return end
    local keep, fields = {}, nil
    for line in io.lines(self.csv_path) do
      local s = tonumber(line:match("^([^,]*)"))
      local n = select(2, line:gsub(",", ""))
      fields = fields or n
      -- a row cut short by a process killed while writing it has fewer fields than the header
      if #keep == 0 or (s and s <= step and n == fields) then keep[#keep + 1] = line end
    end
    rewrite_lines(self.csv_path, keep)
  end

  -- drop TensorBoard events after `step` from the run's earlier event files (used on resume, like trim_log)
  function Run:trim_events(step)
    for _, name in ipairs(cil.sys.listdir(self.dir) or {}) do
      local path = self.dir .. "/" .. name
      if name:match("^events%.out%.tfevents%.") then
        local current = self.tb and path == self.tb.path
        if current then self.tb:close() end                -- the file this run appends to (same second)
        cil.tensorboard.trim(path, step)
        if current then self.tb = cil.tensorboard.writer(self.dir, path) end
      end
    end
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
  -- The checkpoint must be of this algorithm and task: new checkpoints carry algo and env (the task name);
  -- older ones without them resume as before, unless opts.strict. --force_resume resumes a mismatch.
  function Run:load_checkpoint(opts)
    local ck = cil.checkpoint.load(self:checkpoint_path())
    local ck_env = type(ck.env) == "string" and ck.env or nil     -- online checkpoints once kept env state here
    local strict = opts and opts.strict
    if (ck.algo ~= nil and ck.algo ~= self.algo) or (ck_env ~= nil and ck_env ~= self.cfg.env) or
       (strict and (ck.algo == nil or ck_env == nil)) then
      local msg = string.format("%s: %s is a checkpoint of %s on %s, not of %s on %s", self.algo, self:checkpoint_path(),
        tostring(ck.algo or "an unknown algorithm"), tostring(ck_env or "an unknown task"), self.algo, self.cfg.env)
      if not self.force_resume then error(msg .. " (pass --force_resume to resume it anyway)", 0) end
      print(msg .. "; resuming anyway (--force_resume)")
    end
    if type(ck.config) == "table" then
      local diff, keys = {}, {}
      local cosmetic = {print_every_s = true, checkpoint_every = true}   -- cannot change the results
      for k in pairs(self.cfg) do if not cosmetic[k] then keys[#keys + 1] = k end end
      for k in pairs(ck.config) do if self.cfg[k] == nil and not cosmetic[k] then keys[#keys + 1] = k end end
      table.sort(keys)
      for _, k in ipairs(keys) do
        local was_cfg = ck.config[k]
        if was_cfg == nil and (k == "precision" or k == "nograd_precision") then was_cfg = "fp32" end -- older checkpoints
        if not same_value(self.cfg[k], was_cfg) then
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
    -- atomic: a killed process leaves the old file or none, never half of one (a sweep takes a
    -- summary.json for a finished run)
    local path = self.dir .. "/" .. name
    local tmp = path .. ".tmp-" .. cil.sys.getpid()
    local f = assert(io.open(tmp, "w"))
    local ok, err = f:write(enc(t), "\n")
    local closed, cerr = f:close()
    if not ok or not closed then
      os.remove(tmp)
      error(string.format("cannot write %s: %s", path, tostring(err or cerr)), 0)
    end
    assert(os.rename(tmp, path))
  end

  -- Interruptions (SIGINT, SIGTERM, SIGUSR1: Ctrl-C, a job scheduler's notice before a time limit or a
  -- preemption): a loop calls this at a point where its state is consistent, with the function that
  -- writes its checkpoint. On a pending signal it writes the checkpoint, says so, and exits with
  -- run.EXIT_INTERRUPTED (3); `--resume` then continues exactly where it stopped.
  run.EXIT_INTERRUPTED = 3
  -- A loop calls it once before its first step too, without save and step: from then on signals wait
  -- for it (before, in a script's set-up, a signal raises an error: nothing to save yet).
  function Run:poll_interrupt(save, step)
    local sig = cil.interrupted and cil.interrupted()
    if not sig then return end
    if save then save() end
    if step then
      print(string.format("[%s %s] %s: checkpoint written at step %d to %s; exiting with status %d (continue with --resume)",
        self.algo, self.cfg.env, sig, step, self:checkpoint_path(), run.EXIT_INTERRUPTED))
    else
      print(string.format("[%s %s] %s: stopped before training; exiting with status %d (--resume starts or continues it)",
        self.algo, self.cfg.env, sig, run.EXIT_INTERRUPTED))
    end
    io.stdout:flush()
    if self.csv then self.csv:close(); self.csv = nil end
    if self.tb then self.tb:close(); self.tb = nil end
    os.exit(run.EXIT_INTERRUPTED, true)
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

  -- The interval estimate of rliable (Agarwal et al. 2021): runs resampled with replacement within each
  -- task (stratified), the IQM of the pooled resample, `reps` times; the percentile interval at level
  -- 1 - alpha. groups = {{scores of task 1}, {scores of task 2}, ...}. Returns the IQM of all scores and
  -- the interval's ends. Seeded (opts.seed, default 0): the same scores give the same interval.
  function run.stratified_bootstrap(groups, opts)
    opts = opts or {}
    local reps, alpha = opts.reps or 2000, opts.alpha or 0.05
    local rng = cil.rng(opts.seed or 0)
    local all = {}
    for _, g in ipairs(groups) do for _, x in ipairs(g) do all[#all + 1] = x end end
    if #all == 0 then return 0 / 0, 0 / 0, 0 / 0 end
    local point = run.iqm_std(all)
    local stats = {}
    for b = 1, reps do
      local s = {}
      for _, g in ipairs(groups) do
        local n = #g
        for _ = 1, n do s[#s + 1] = g[rng:random(n)] end
      end
      stats[b] = run.iqm_std(s)
    end
    table.sort(stats)
    local lo = stats[math.max(1, math.ceil(alpha / 2 * reps))]
    local hi = stats[math.min(reps, math.floor((1 - alpha / 2) * reps) + 1)]
    return point, lo, hi
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
