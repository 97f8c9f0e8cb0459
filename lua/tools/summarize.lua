-- Summarize finished runs (their summary.json): one row per (algorithm, task) with the number of seeds,
-- the IQM over seeds of each run's headline score and a 95 % stratified bootstrap interval (rliable's
-- recipe: runs resampled with replacement within each task, the IQM of the pooled resample, 2000 times,
-- percentile interval, fixed seed), for the D4RL-normalized and the demonstrator-normalized score, with
-- the reference's number beside it; an algorithm run on several tasks also gets a row over all of them.
-- A sweep's output root (tools/sweep.lua) stands for all of its runs; there the table also goes to
-- ROOT/summary.md and the per-task learning curves (mean over seeds with a 95 % bootstrap band) to
-- ROOT/curves.png. Runs of a sweep's grid (directories named <algo>-<task>-seed<N>-k=v) form one row
-- and one curve per setting, e.g. "sac precision=bf16" beside "sac precision=fp32".
--   cleanil tools/summarize.lua RUN_DIR|SWEEP_ROOT [...] [--markdown] [--png=FILE] [--y=eval_score]
local cil = require "cleanil"

local USAGE = "usage: cleanil tools/summarize.lua RUN_DIR|SWEEP_ROOT [...] [--markdown] [--png=FILE] [--y=eval_score]"
local dirs, markdown, png, ycol = {}, false, nil, "eval_score"
for _, a in ipairs(arg) do
  local k, v = a:match("^%-%-(%w+)=(.*)$")
  if a == "--markdown" then markdown = true
  elseif k == "png" then png = v
  elseif k == "y" then ycol = v
  elseif a == "--help" or a:match("^%-%-") then
    print(USAGE)
    if a ~= "--help" then error("summarize: unknown option " .. a, 0) end
    return
  else dirs[#dirs + 1] = a end
end
if #dirs == 0 then error("summarize: give at least one run directory (with a summary.json)", 0) end

local function exists(p) local f = io.open(p, "r"); if f then f:close(); return true end; return false end

-- the flat JSON objects run.finish writes: numbers, strings and arrays of numbers
local function read_summary(dir)
  local f = io.open(dir .. "/summary.json")
  if not f then error("summarize: " .. dir .. " has no summary.json (the run has not finished)", 0) end
  local text = f:read("a")
  f:close()
  local t = {}
  -- the top level only: nested objects (loop_share) have keys of their own (env, ...)
  text = (text:match("^%s*{(.*)}%s*$") or text):gsub("%b{}", "{}")
  for k, v in text:gmatch('"([%w_]+)":%s*([^,%[%]{}]+)') do
    t[k] = tonumber(v) or v:match('^%s*"(.*)"%s*$')
  end
  if not (t.algo and t.env and t.d4rl_score_iqm) then error("summarize: " .. dir .. "/summary.json is not a run summary", 0) end
  t.dir = dir
  -- a sweep's grid setting, from the run directory's name <algo>-<task>-seed<N>-k=v[-k=v...]: runs of one
  -- algorithm that differ in it (say precision=fp32 and precision=bf16) are summarized apart
  t.variant = dir:match("([^/]+)$"):match("%-seed%d+%-(.+)$")
  t.group = t.variant and (t.algo .. " " .. t.variant) or t.algo
  return t
end

-- run directories: a sweep root expands to its runs (those not finished are named, not counted)
local runs, roots, missing = {}, {}, {}
for _, d in ipairs(dirs) do
  d = d:gsub("/+$", "")
  local index = d .. "/sweep-index.lua"
  if not exists(d .. "/summary.json") and exists(index) then
    local chunk = assert(loadfile(index, "t", {}))
    local idx = chunk()
    roots[#roots + 1] = d
    for _, r in ipairs(idx.runs) do
      local rd = d .. "/" .. r.dir
      if exists(rd .. "/summary.json") then runs[#runs + 1] = read_summary(rd)
      else missing[#missing + 1] = rd end
    end
  else
    runs[#runs + 1] = read_summary(d)
  end
end
if #missing > 0 then
  io.stderr:write(("summarize: %d run(s) not finished, left out: %s\n"):format(#missing, table.concat(missing, ", ")))
end
if #runs == 0 then error("summarize: no finished run (no summary.json) in " .. table.concat(dirs, ", "), 0) end

-- groups: algorithm (with its grid setting, if any) -> task -> runs, in the order first seen
local algos, by = {}, {}
for _, s in ipairs(runs) do
  if not by[s.group] then by[s.group] = {algo = s.algo, tasks = {}, runs = {}}; algos[#algos + 1] = s.group end
  local a = by[s.group]
  if not a.runs[s.env] then a.runs[s.env] = {}; a.tasks[#a.tasks + 1] = s.env end
  table.insert(a.runs[s.env], s)
end

local function scores(list, key)
  local xs = {}
  for _, s in ipairs(list) do if type(s[key]) == "number" then xs[#xs + 1] = s[key] end end
  return xs
end
local function cell(groups)
  local n = 0
  for _, g in ipairs(groups) do n = n + #g end
  if n == 0 then return nil end
  return {cil.run.stratified_bootstrap(groups)}
end

local rows = {}
for _, algo in ipairs(algos) do
  local a = by[algo]
  local all_d4rl, all_demo, all_n = {}, {}, 0
  for _, task in ipairs(a.tasks) do
    local list = a.runs[task]
    local d4rl, demo = scores(list, "d4rl_score_iqm"), scores(list, "demo_score_iqm")
    all_d4rl[#all_d4rl + 1], all_demo[#all_demo + 1], all_n = d4rl, demo, all_n + #list
    local rs = cil.reference_scores and cil.reference_scores[a.algo]
    local ref = rs and rs[task]
    rows[#rows + 1] = {algo = algo, task = task, n = #list, d4rl = cell({d4rl}), demo = cell({demo}),
      ref = ref and ("%.2f ± %.2f"):format(ref[1], ref[2]) or "-"}
  end
  if #a.tasks > 1 then
    rows[#rows + 1] = {algo = algo, task = "all " .. #a.tasks .. " tasks", n = all_n, d4rl = cell(all_d4rl),
      demo = cell(all_demo), ref = "-"}
  end
end

local function ci(c, md)
  if not c then return "-" end
  return (md and "%.1f [%.1f, %.1f]" or "%6.1f [%6.1f, %6.1f]"):format(c[1], c[2], c[3])
end
local function markdown_table()
  local t = {"| algorithm | task | seeds | D4RL-normalized IQM [95% CI] | demonstrator-normalized IQM [95% CI] | reference (D4RL-normalized, seed 0) |",
    "|---|---|---|---|---|---|"}
  for _, r in ipairs(rows) do
    t[#t + 1] = ("| %s | %s | %d | %s | %s | %s |"):format(r.algo, r.task, r.n, ci(r.d4rl, true), ci(r.demo, true), r.ref)
  end
  return table.concat(t, "\n")
end
if markdown then
  print(markdown_table())
else
  print(("%-24s %-12s %5s   %-24s   %-24s   %s"):format("algo", "task", "seeds", "D4RL IQM [95% CI]", "demo IQM [95% CI]", "reference"))
  for _, r in ipairs(rows) do
    print(("%-24s %-12s %5d   %-24s   %-24s   %s"):format(r.algo, r.task, r.n, ci(r.d4rl), ci(r.demo), r.ref))
  end
end
local single_root = #roots == 1 and #dirs == 1 and roots[1] or nil   -- its files describe it alone
if single_root then
  local root = single_root
  local f = assert(io.open(root .. "/summary.md", "w"))
  f:write(markdown_table(), "\n")
  f:close()
  io.stderr:write("summarize: wrote " .. root .. "/summary.md\n")
end

---------------------------------------------------------------------------- learning curves
-- per task one panel; per algorithm the mean over seeds of `ycol` at each step all its seeds logged,
-- with a 95 % percentile bootstrap interval of that mean (seeds resampled, 500 times)
if not png and single_root then png = single_root .. "/curves.png" end
if png then
  if os.execute("command -v gnuplot > /dev/null 2>&1") ~= true then
    io.stderr:write("summarize: gnuplot is not installed (apt-get install gnuplot-nox): no " .. png .. "\n")
    return
  end
  local tasks, seen = {}, {}
  for _, s in ipairs(runs) do if not seen[s.env] then seen[s.env] = true; tasks[#tasks + 1] = s.env end end
  local tmp = os.tmpname()
  local files, panels = {}, {}
  local colors = {"#0077bb", "#cc3311", "#009988", "#ee7733", "#33bbee", "#ee3377", "#555555", "#aa7700"}
  for ti, task in ipairs(tasks) do
    local plots = {}
    for ai, algo in ipairs(algos) do
      local list = by[algo].runs[task]
      if list then
        local per, steps = {}, nil                       -- the steps every seed has
        for si, s in ipairs(list) do
          local ok, cols = pcall(cil.run.read_log, s.dir .. "/log.csv")
          per[si] = {}
          if ok and cols.step and cols[ycol] then
            for i, st in pairs(cols.step) do if cols[ycol][i] then per[si][st] = cols[ycol][i] end end
          end
          local have = {}
          for st in pairs(per[si]) do if not steps or steps[st] then have[st] = true end end
          steps = have
        end
        local order = {}
        for st in pairs(steps or {}) do order[#order + 1] = st end
        table.sort(order)
        if #order > 0 then
          local rng = cil.rng(ti * 1000 + ai)
          local lines = {}
          for _, st in ipairs(order) do
            local xs = {}
            for si = 1, #list do xs[si] = per[si][st] end
            local m = cil.run.mean_std(xs)
            local means = {}
            for b = 1, 500 do
              local sum = 0
              for _ = 1, #xs do sum = sum + xs[rng:random(#xs)] end
              means[b] = sum / #xs
            end
            table.sort(means)
            lines[#lines + 1] = ("%.17g %.9g %.9g %.9g"):format(st, m, means[13], means[488])
          end
          local p = ("%s.%d.%d"):format(tmp, ti, ai)
          local f = assert(io.open(p, "w"))
          f:write(table.concat(lines, "\n"), "\n")
          f:close()
          files[#files + 1] = p
          local c = colors[(ai - 1) % #colors + 1]
          plots[#plots + 1] = ("'%s' using 1:3:4 with filledcurves fs transparent solid 0.2 noborder lc rgb '%s' notitle"):format(p, c)
          plots[#plots + 1] = ("'%s' using 1:2 with lines lw 2 lc rgb '%s' title '%s (%d seeds)'"):format(p, c,
            algo:gsub("_", "\\_"), #list)
        end
      end
    end
    if #plots > 0 then
      panels[#panels + 1] = ("set title '%s'\nplot %s\n"):format(task, table.concat(plots, ", "))
    end
  end
  if #panels == 0 then
    io.stderr:write("summarize: no step at which all seeds of an algorithm logged '" .. ycol .. "': no " .. png .. "\n")
  else
    local g = assert(io.popen("gnuplot", "w"))
    g:write(([[
set terminal pngcairo size %d,480 enhanced font 'sans,10'
set output '%s'
set multiplot layout 1,%d
set xlabel 'step'
set ylabel '%s'
set grid
set key bottom right
]]):format(math.max(640, 520 * #panels), png, #panels,
      (({eval_score = "D4RL-normalized score", eval_return = "evaluation return"})[ycol] or ycol):gsub("_", "\\_")))
    g:write(table.concat(panels), "unset multiplot\n")
    local okg = g:close()
    for _, p in ipairs(files) do os.remove(p) end
    os.remove(tmp)
    if not okg then error("summarize: gnuplot failed", 0) end
    io.stderr:write("summarize: wrote " .. png .. "\n")
  end
end
