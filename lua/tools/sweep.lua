-- Sweeps over algorithms, tasks, seeds and config settings, from one manifest (a plain Lua table):
-- a local pool of worker processes, or one Slurm job array.
--   cleanil tools/sweep.lua MANIFEST.lua [--backend=local|slurm] [--status] [--dry-run] [--workers=N]
-- Manifest keys (lua/configs/sweeps/seeds.lua is an example):
--   algorithms = {"bc", "gail"}       scripts of lua/algorithms/
--   tasks      = {"hopper"}           --env of each run
--   seeds      = {0, 1, 2}
--   preset     = "quick"              optional --preset
--   overrides  = {epochs = 4, lr_actor = {1e-3, 3e-4}}   --key=value of every run; a list is a grid axis
--                                     (a list-valued config key is written as a string: hidden = "64,64")
--   per_algorithm = {gail = {update_after = 500}}       overrides of one algorithm's runs (lists too)
--   threads    = 1                    --threads of each run (Slurm: --cpus-per-task)
--   out        = "runs/sweeps/seeds"  output root: one run directory per run, <algo>-<task>-seed<N>[-k=v...]
--   workers    = N                    local pool size (default: cores / threads)
--   slurm      = {partition = "cpu", time = "04:00:00", mem = "4G", account = "proj",
--                 signal_seconds = 180, max_parallel = 20, extra = {"--qos=normal"}}
--                every key but signal_seconds, max_parallel and extra becomes "#SBATCH --key=value"
-- Every run is started with --resume: a run with summary.json is skipped, one with a checkpoint continues
-- where it stopped, so running the same manifest again finishes only what is left. Runs stopped by a
-- signal (Ctrl-C, SIGTERM, SIGUSR1) write a checkpoint and exit with status 3.
local cil = require "cleanil"

local USAGE = "usage: cleanil tools/sweep.lua MANIFEST.lua [--backend=local|slurm] [--status] [--dry-run] [--workers=N]"
local manifest_path, opt = nil, {backend = "local"}
for _, a in ipairs(arg) do
  local k, v = a:match("^%-%-([%w_%-]+)=(.*)$")
  if not k then k = a:match("^%-%-([%w_%-]+)$") end
  if k then
    k = k:gsub("%-", "_")
    if k == "help" then print(USAGE); return end
    if not ({backend = 1, status = 1, dry_run = 1, workers = 1})[k] then
      error("sweep: unknown option --" .. k .. " (" .. USAGE .. ")", 0)
    end
    opt[k] = v or true
  elseif manifest_path then
    error("sweep: one manifest only (" .. USAGE .. ")", 0)
  else
    manifest_path = a
  end
end
if not manifest_path then error("sweep: no manifest given\n" .. USAGE, 0) end
if opt.backend ~= "local" and opt.backend ~= "slurm" then error("sweep: --backend is local or slurm, got " .. opt.backend, 0) end

---------------------------------------------------------------------------- helpers
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end      -- shell quoting
local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok == true, code
end
local function exists(p) local f = io.open(p, "r"); if f then f:close(); return true end; return false end
local function read(p) local f = io.open(p, "r"); if not f then return nil end; local s = f:read("a"); f:close(); return s end
local function write_atomic(p, s)
  local tmp = p .. ".tmp-" .. cil.sys.getpid()
  local f = assert(io.open(tmp, "w"))
  assert(f:write(s))
  assert(f:close())
  assert(os.rename(tmp, p))
end
local function absolute(p)
  if p:sub(1, 1) == "/" then return p end
  local out = sh("pwd"):gsub("%s+$", "")
  if p == "." then return out end
  return out .. "/" .. p:gsub("^%./", "")
end
local function hms(s)
  if not s or s ~= s or s == math.huge then return "?" end
  s = math.floor(s)
  return string.format("%dh%02dm%02ds", s // 3600, (s % 3600) // 60, s % 60)
end

---------------------------------------------------------------------------- the manifest
local chunk, err = loadfile(manifest_path, "t", {math = math, os = {getenv = os.getenv}})
if not chunk then error("sweep: " .. err, 0) end
local ok, M = pcall(chunk)
if not ok then error("sweep: " .. manifest_path .. ": " .. tostring(M), 0) end
if type(M) ~= "table" then error("sweep: " .. manifest_path .. " must return a table", 0) end
local KNOWN = {name = 1, algorithms = 1, tasks = 1, seeds = 1, preset = 1, overrides = 1, per_algorithm = 1,
  threads = 1, out = 1, workers = 1, slurm = 1}
for k in pairs(M) do
  if not KNOWN[k] then error(("sweep: %s: unknown manifest key '%s'"):format(manifest_path, tostring(k)), 0) end
end
local function list_of(key, kind)
  local v = M[key]
  if type(v) ~= "table" or #v == 0 then error(("sweep: %s: '%s' must be a non-empty list"):format(manifest_path, key), 0) end
  for i, x in ipairs(v) do
    if (kind == "integer" and math.type(x) ~= "integer") or (kind == "string" and type(x) ~= "string") then
      error(("sweep: %s: %s[%d] must be a%s %s, got %s"):format(manifest_path, key, i, kind == "integer" and "n" or "",
        kind, tostring(x)), 0)
    end
  end
  return v
end
local algorithms, tasks, seeds = list_of("algorithms", "string"), list_of("tasks", "string"), list_of("seeds", "integer")
local threads = M.threads or 1
if math.type(threads) ~= "integer" or threads < 1 then error("sweep: threads must be a whole number >= 1", 0) end
local name = M.name or manifest_path:match("([^/]+)%.lua$") or "sweep"
local out_root = absolute(M.out or ("runs/sweeps/" .. name))
local lua_dir = absolute(CLEANIL_LUA_DIR)
for _, a in ipairs(algorithms) do
  if not exists(lua_dir .. "/algorithms/" .. a .. ".lua") then
    error(("sweep: %s: no algorithm '%s' (no %s/algorithms/%s.lua)"):format(manifest_path, a, lua_dir, a), 0)
  end
end
-- the cleanil program itself, so that every run (also on a cluster node) uses this build
local bin = arg[-1] or "cleanil"
if bin:find("/") then bin = absolute(bin) else bin = (sh("command -v " .. q(bin)):gsub("%s+$", "")) end

local function show(v)
  if math.type(v) == "float" then return string.format("%.10g", v) end
  return tostring(v)
end
-- the grid of one algorithm's overrides: a list of {key = value} tables, and the keys that vary
local function grid(over)
  local keys = {}
  for k in pairs(over) do keys[#keys + 1] = k end
  table.sort(keys)
  local points, varying = {{}}, {}
  for _, k in ipairs(keys) do
    local v = over[k]
    local values = type(v) == "table" and v or {v}
    if #values == 0 then error(("sweep: %s: override '%s' is an empty list"):format(manifest_path, k), 0) end
    if #values > 1 then varying[#varying + 1] = k end
    local nxt = {}
    for _, p in ipairs(points) do
      for _, x in ipairs(values) do
        local c = {}
        for kk, vv in pairs(p) do c[kk] = vv end
        c[k] = x
        nxt[#nxt + 1] = c
      end
    end
    points = nxt
  end
  return points, varying
end

-- every run of the sweep, in a fixed order (its index is the Slurm array index)
local runs = {}
for _, algo in ipairs(algorithms) do
  local over = {}
  for k, v in pairs(M.overrides or {}) do over[k] = v end
  for k, v in pairs((M.per_algorithm or {})[algo] or {}) do over[k] = v end
  for _, k in ipairs({"env", "seed", "out", "resume", "threads", "preset"}) do
    if over[k] ~= nil then error(("sweep: %s: '%s' is set by the sweep, not an override"):format(manifest_path, k), 0) end
  end
  local points, varying = grid(over)
  for _, task in ipairs(tasks) do
    for _, seed in ipairs(seeds) do
      for _, p in ipairs(points) do
        local tag = {}
        for _, k in ipairs(varying) do tag[#tag + 1] = k .. "=" .. show(p[k]):gsub("[^%w%.%-_,]", "_") end
        local dir = ("%s/%s-%s-seed%d%s"):format(out_root, algo, task, seed, #tag > 0 and ("-" .. table.concat(tag, "-")) or "")
        local args = {lua_dir .. "/algorithms/" .. algo .. ".lua", "--env=" .. task, "--seed=" .. seed}
        if M.preset then args[#args + 1] = "--preset=" .. M.preset end
        args[#args + 1] = "--threads=" .. threads
        local keys = {}
        for k in pairs(p) do keys[#keys + 1] = k end
        table.sort(keys)
        for _, k in ipairs(keys) do args[#args + 1] = "--" .. k .. "=" .. show(p[k]) end
        args[#args + 1] = "--out=" .. dir
        args[#args + 1] = "--resume"
        local cmd = {q(bin)}
        for _, a in ipairs(args) do cmd[#cmd + 1] = q(a) end
        runs[#runs + 1] = {index = #runs, algo = algo, task = task, seed = seed, dir = dir, cmd = table.concat(cmd, " "),
          label = dir:match("([^/]+)$")}
      end
    end
  end
end
local seen = {}
for _, r in ipairs(runs) do
  if seen[r.dir] then error("sweep: two runs share the directory " .. r.dir, 0) end
  seen[r.dir] = true
end

---------------------------------------------------------------------------- a run's state on disk
-- Files the sweep keeps in each run directory: console.log (the run's output, appended), sweep.pid (the
-- run's process id), sweep.exit (its exit status once it ended).
local function last_lines(path, bytes)
  local f = io.open(path, "r")
  if not f then return {} end
  local size = f:seek("end")
  f:seek("set", math.max(0, size - (bytes or 8192)))
  local text = f:read("a")
  f:close()
  local lines = {}
  for l in text:gmatch("[^\r\n]+") do lines[#lines + 1] = l end
  return lines
end
-- the error of a failed run: the last "cleanil: ..." line of its console, else its last line
local function error_line(r)
  local lines = last_lines(r.dir .. "/console.log", 16384)
  for i = #lines, 1, -1 do
    local m = lines[i]:match("^cleanil: (.*)$")
    if m then return m end
  end
  return lines[#lines] or "(no output)"
end
local function progress_of(r)
  local lines = last_lines(r.dir .. "/console.log", 4096)
  for i = #lines, 1, -1 do
    local step, total, eta = lines[i]:match("step (%d+)/(%d+) .-ETA ([%dhms?]+)")
    if step then return tonumber(step), tonumber(total), eta end
  end
end
local function exit_status(r)
  local s = read(r.dir .. "/sweep.exit")
  return s and math.tointeger(tonumber(s:match("%-?%d+")))
end
-- done | failed | interrupted | running | queued (from the files alone)
local function state_of(r)
  if exists(r.dir .. "/summary.json") then return "done" end
  local pid = math.tointeger(tonumber((read(r.dir .. "/sweep.pid") or ""):match("%d+") or ""))
  local code = exit_status(r)
  if pid and not code and cil.sys.pid_alive(pid) then return "running", pid end
  if code == cil.run.EXIT_INTERRUPTED then return "interrupted" end
  if code and code ~= 0 then return "failed" end
  if code == 0 then return "failed" end                     -- ended well but wrote no summary.json
  if exists(r.dir .. "/checkpoint.h5") then return "interrupted" end
  return "queued"
end

local function describe_run(r, state)
  if state == "running" then
    local step, total, eta = progress_of(r)
    return step and ("step %d/%d, ETA %s"):format(step, total, eta) or "starting"
  elseif state == "failed" then
    return error_line(r)
  elseif state == "done" then
    local s = read(r.dir .. "/summary.json") or ""
    local score = tonumber(s:match('"d4rl_score_iqm":%s*([%-%d.e+]+)'))
    return score and ("D4RL score %.1f"):format(score) or ""
  elseif state == "interrupted" then
    local step
    for _, l in ipairs(last_lines(r.dir .. "/console.log", 4096)) do
      step = tonumber(l:match("checkpoint written at step (%d+)")) or step
    end
    step = step or progress_of(r)
    return "checkpointed" .. (step and (" near step " .. step) or "") .. "; resumes on the next start"
  end
  return ""
end

local function table_text(states, extra, legend)
  local count = {}
  local lines = {}
  for _, r in ipairs(runs) do
    local st = states[r.index] or "queued"
    count[st] = (count[st] or 0) + 1
    local e = extra and extra[r.index]
    lines[#lines + 1] = ("%4d  %-11s %-44s %s"):format(r.index, e and (st .. "*") or st, r.label, describe_run(r, st))
  end
  local order = {"queued", "running", "interrupted", "done", "failed"}
  local parts = {}
  for _, k in ipairs(order) do if count[k] then parts[#parts + 1] = count[k] .. " " .. k end end
  return ("sweep %s: %d runs (%s) in %s\n"):format(name, #runs, table.concat(parts, ", "), out_root) ..
    ("%4s  %-11s %-44s %s\n"):format("#", "state", "run", "progress / result / error") .. table.concat(lines, "\n") ..
    ((legend and extra and next(extra)) and ("\n      * " .. legend) or "")
end

-- the list of runs as the aggregation reads it (summarize.lua OUT_ROOT)
local function write_index()
  sh("mkdir -p " .. q(out_root))
  local t = {"-- the runs of sweep " .. name .. " (written by tools/sweep.lua; read by tools/summarize.lua)", "return {"}
  t[#t + 1] = ("  name = %q, manifest = %q,"):format(name, absolute(manifest_path))
  t[#t + 1] = "  runs = {"
  for _, r in ipairs(runs) do
    t[#t + 1] = ("    {algo = %q, env = %q, seed = %d, dir = %q},"):format(r.algo, r.task, r.seed, r.label)
  end
  t[#t + 1] = "  },"
  t[#t + 1] = "}"
  write_atomic(out_root .. "/sweep-index.lua", table.concat(t, "\n") .. "\n")
end

---------------------------------------------------------------------------- local backend
local function cores()
  local n = tonumber((sh("nproc")))
  return math.max(1, math.tointeger(n) or 1)
end

local function launch(r)
  sh("mkdir -p " .. q(r.dir))
  os.remove(r.dir .. "/sweep.exit")
  os.remove(r.dir .. "/sweep.pid")
  local f = assert(io.open(r.dir .. "/console.log", "a"))
  f:write(("== sweep %s: start %s: %s\n"):format(name, os.date("!%Y-%m-%dT%H:%M:%SZ"), r.cmd))
  f:close()
  -- a subshell runs the run (its process id in sweep.pid) and then writes its exit status atomically
  local pidf, exitf, log = q(r.dir .. "/sweep.pid"), q(r.dir .. "/sweep.exit"), q(r.dir .. "/console.log")
  local inner = ("echo $$ > %s; exec %s"):format(pidf, r.cmd)
  local cmd = ("( sh -c %s >> %s 2>&1 < /dev/null; echo $? > %s.tmp; mv %s.tmp %s ) > /dev/null 2>&1 &"):format(
    q(inner), log, exitf, exitf, exitf)
  local okx = os.execute(cmd)
  if not okx then error("sweep: cannot start " .. r.label, 0) end
  -- the run's pid (written by its shell before it becomes the run)
  for _ = 1, 200 do
    local pid = math.tointeger(tonumber((read(r.dir .. "/sweep.pid") or ""):match("%d+") or ""))
    if pid then return pid end
    if exists(r.dir .. "/sweep.exit") then return nil end
    cil.sleep(0.01)
  end
end

local function local_status()
  local states = {}
  for _, r in ipairs(runs) do states[r.index] = state_of(r) end
  print(table_text(states))
end

local function local_sweep()
  local workers = math.tointeger(tonumber(opt.workers or "")) or M.workers or math.max(1, cores() // threads)
  cil.interrupted()                        -- from here on a signal stops the pool in order
  local states, pids, queue, active = {}, {}, {}, 0
  for _, r in ipairs(runs) do
    local st, pid = state_of(r)
    if st == "done" then states[r.index] = "done"
    elseif st == "running" then
      -- another sweep (or a hand-started run) works on it: leave it alone
      states[r.index] = "running"; pids[r.index] = pid
    else
      states[r.index] = "queued"; queue[#queue + 1] = r
    end
  end
  local foreign = {}
  for i in pairs(pids) do foreign[i] = true end
  print(("sweep %s: %d runs, %d to do, %d workers of %d thread(s) each"):format(name, #runs, #queue, workers, threads))
  if opt.dry_run then
    for _, r in ipairs(runs) do print(("%4d  %-8s %s"):format(r.index, states[r.index], r.cmd)) end
    return
  end
  write_index()
  local tty = os.execute("test -t 1") == true
  local stopping, last_print, last_text = nil, -1e9, nil
  local t0 = cil.sys.clock()
  local function show_table(force)
    local now = cil.sys.clock()
    local text = table_text(states, foreign, "started by an earlier sweep, still working")
    if tty then
      if force or now - last_print >= 2 then io.write("\27[H\27[2J", text, "\n"); io.flush(); last_print = now end
    elseif force or text ~= last_text and now - last_print >= 10 then
      print(("[%s] "):format(hms(now - t0)) .. text); io.flush(); last_print = now; last_text = text
    end
  end
  local function events(r, before, after)
    if before ~= after and not tty then
      print(("[%s] %s: %s%s"):format(hms(cil.sys.clock() - t0), r.label, after,
        after == "failed" and (" (" .. error_line(r) .. ")") or ""))
    end
  end
  local byindex = {}
  for _, r in ipairs(runs) do byindex[r.index] = r end
  while true do
    local sig = cil.interrupted()
    if sig and not stopping then
      -- pass it on as SIGUSR1 (a run that already got it from the terminal ignores a repeat); the runs
      -- write their checkpoints and exit with status 3
      stopping = sig
      print(("sweep %s: %s: the running runs write their checkpoints and stop; run the sweep again to continue"):format(name, sig))
      for _, pid in pairs(pids) do if pid > 0 then os.execute("kill -USR1 " .. pid .. " 2>/dev/null") end end
    end
    -- start runs while there are free workers
    local busy = active                    -- runs of another (killed) sweep still working count too
    for i in pairs(foreign) do if pids[i] then busy = busy + 1 end end
    while not stopping and #queue > 0 and busy < workers do
      busy = busy + 1
      local r = table.remove(queue, 1)
      local pid = launch(r)
      pids[r.index] = pid or -1
      active = active + 1
      events(r, states[r.index], "running")
      states[r.index] = "running"
    end
    -- runs that ended
    for i, pid in pairs(pids) do
      local r = byindex[i]
      if foreign[i] then
        if not cil.sys.pid_alive(pid) then
          -- its shell writes the exit status just after the run ends
          for _ = 1, 50 do if exists(r.dir .. "/sweep.exit") then break end; cil.sleep(0.02) end
          pids[i], foreign[i] = nil, nil
          local st = state_of(r)
          if st ~= "done" and st ~= "failed" and not stopping then st = "queued"; queue[#queue + 1] = r end  -- resume it here
          events(r, states[i], st)
          states[i] = st
        end
      elseif exists(r.dir .. "/sweep.exit") then
        pids[i] = nil
        active = active - 1
        local st = state_of(r)
        events(r, states[i], st)
        states[i] = st
      end
    end
    if active == 0 and (stopping or #queue == 0) and next(pids) == nil then break end
    show_table(false)
    cil.sleep(0.2)
  end
  show_table(true)
  local failed, left = 0, 0
  for _, st in pairs(states) do
    if st == "failed" then failed = failed + 1 elseif st ~= "done" then left = left + 1 end
  end
  if stopping or (failed == 0 and left > 0) then
    if not stopping then
      print(("sweep %s: %d run(s) were stopped by a signal of their own; run the sweep again to continue them"):format(name, left))
    end
    os.exit(cil.run.EXIT_INTERRUPTED, true)
  end
  if failed > 0 then
    print(("sweep %s: %d run(s) failed; fix and run the sweep again (finished runs are kept)"):format(name, failed))
    os.exit(1, true)
  end
  print(("sweep %s: all %d runs done. Aggregate: cleanil tools/summarize.lua %s"):format(name, #runs, out_root))
end

---------------------------------------------------------------------------- Slurm backend
local SLURM_DIR = out_root .. "/slurm"
local function slurm_script(todo)
  local S = M.slurm or {}
  local idx = {}
  for _, r in ipairs(todo) do idx[#idx + 1] = tostring(r.index) end
  local array = table.concat(idx, ",")
  if S.max_parallel then array = array .. "%" .. S.max_parallel end
  local t = {"#!/bin/bash",
    "# sweep " .. name .. ": one run per array task (written by cleanil tools/sweep.lua " .. absolute(manifest_path) .. ")",
    "#SBATCH --job-name=" .. name,
    "#SBATCH --array=" .. array,
    "#SBATCH --ntasks=1",
    "#SBATCH --cpus-per-task=" .. threads,
    "#SBATCH --requeue",
    "#SBATCH --open-mode=append",
    -- the batch shell gets SIGUSR1 this long before the time limit and passes it to the run
    "#SBATCH --signal=B:USR1@" .. (S.signal_seconds or 180),
    "#SBATCH --output=" .. SLURM_DIR .. "/%A_%a.out",
    "#SBATCH --chdir=" .. absolute("."),
  }
  local keys = {}
  for k in pairs(S) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if k ~= "signal_seconds" and k ~= "max_parallel" and k ~= "extra" then
      t[#t + 1] = ("#SBATCH --%s=%s"):format(k:gsub("_", "-"), tostring(S[k]))
    end
  end
  for _, e in ipairs(S.extra or {}) do t[#t + 1] = "#SBATCH " .. e end
  t[#t + 1] = ""
  t[#t + 1] = "case \"$SLURM_ARRAY_TASK_ID\" in"
  for _, r in ipairs(runs) do
    t[#t + 1] = ("  %d) DIR=%s; CMD=%s ;;"):format(r.index, q(r.dir), q(r.cmd))
  end
  t[#t + 1] = "  *) echo \"sweep: no run for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;"
  t[#t + 1] = "esac"
  t[#t + 1] = [[
mkdir -p "$DIR"
if [ -f "$DIR/summary.json" ]; then echo "sweep: $DIR is done"; exit 0; fi
rm -f "$DIR/sweep.exit"
echo "== sweep: start $(date -u +%Y-%m-%dT%H:%M:%SZ) job ${SLURM_JOB_ID} (array ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}, restart ${SLURM_RESTART_COUNT:-0}) on $(hostname): $CMD" >> "$DIR/console.log"
# the run in the background, so that this shell can pass Slurm's notice on (SIGUSR1, SIGTERM)
bash -c "echo \$\$ > '$DIR/sweep.pid'; exec $CMD" >> "$DIR/console.log" 2>&1 < /dev/null &
pid=$!
notice=0
trap 'notice=1; kill -USR1 $pid 2>/dev/null' USR1
trap 'kill -USR1 $pid 2>/dev/null' TERM
st=0
while :; do
  wait $pid; st=$?
  kill -0 $pid 2>/dev/null || break       # wait returned for a trapped signal: the run still works
done
echo $st > "$DIR/sweep.exit.tmp" && mv "$DIR/sweep.exit.tmp" "$DIR/sweep.exit"
if [ $st -eq 3 ] && [ $notice -eq 1 ]; then
  # checkpointed on the notice before the time limit: requeue this task; its successor resumes
  # (--resume). After a preemption or an `scontrol requeue` (SIGTERM) Slurm requeues it itself.
  scontrol requeue "$SLURM_JOB_ID" || true
fi
exit $st
]]
  return table.concat(t, "\n")
end

local function slurm_sweep()
  local todo = {}
  for _, r in ipairs(runs) do if state_of(r) ~= "done" then todo[#todo + 1] = r end end
  if #todo == 0 then print(("sweep %s: all %d runs are done"):format(name, #runs)); return end
  local script = slurm_script(todo)
  local path = SLURM_DIR .. "/sweep.sbatch"
  if opt.dry_run then                                       -- nothing written
    print(("sweep %s: %d of %d runs to do; would submit %s:\n"):format(name, #todo, #runs, path))
    print(script)
    return
  end
  write_index()
  sh("mkdir -p " .. q(SLURM_DIR))
  write_atomic(path, script)
  for _, r in ipairs(todo) do sh("mkdir -p " .. q(r.dir)); os.remove(r.dir .. "/sweep.exit") end
  local out, okx = sh("sbatch --parsable " .. q(path))
  if not okx then error("sweep: sbatch failed: " .. out:gsub("%s+$", ""), 0) end
  local job = out:match("(%d+)")
  local f = assert(io.open(SLURM_DIR .. "/jobs", "a"))
  f:write(job, "\n")
  f:close()
  print(("sweep %s: submitted job array %s (%d tasks: %s); status: cleanil tools/sweep.lua %s --backend=slurm --status")
    :format(name, job, #todo, script:match("#SBATCH %-%-array=(%S+)"), manifest_path))
end

local function slurm_status()
  local jobs = {}
  for l in (read(SLURM_DIR .. "/jobs") or ""):gmatch("%d+") do jobs[#jobs + 1] = l end
  local queued = {}   -- array index -> Slurm state of the newest job that has it
  for _, job in ipairs(jobs) do
    local out, okx = sh("squeue -h -r -j " .. job .. " -o '%i %T %M %r'")
    if okx then
      for id, st, t, why in out:gmatch("%d+_(%d+) (%S+) (%S+) ([^\n]*)") do
        queued[tonumber(id)] = st .. (st == "PENDING" and (" (" .. why .. ")") or (" " .. t))
      end
    end
  end
  local states, extra = {}, {}
  for _, r in ipairs(runs) do
    local st = state_of(r)
    local sq = queued[r.index]
    if sq then
      states[r.index] = sq:match("^RUNNING") and "running" or "queued"
      extra[r.index] = true
    else
      -- no longer in the queue (or never submitted): what its directory says; "running" without a job
      -- means a node died under it: it resumes when submitted again
      states[r.index] = st == "running" and "interrupted" or st
    end
  end
  print(table_text(states, extra))
  if #jobs > 0 then
    print("jobs: " .. table.concat(jobs, ", ") .. "   (* = in Slurm's queue now)")
    for _, job in ipairs(jobs) do
      local out, okx = sh("sacct -n -P -X -j " .. job .. " -o JobID,State,ExitCode,Elapsed")
      if okx and out:match("%S") then print("sacct " .. job .. ":\n" .. out) end
    end
  end
end

if opt.backend == "slurm" then
  if opt.status then slurm_status() else slurm_sweep() end
else
  if opt.status then local_status() else local_sweep() end
end
