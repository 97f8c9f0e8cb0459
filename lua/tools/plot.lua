-- Learning curves from one or many runs' log.csv, as a PNG (gnuplot).
--   cleanil tools/plot.lua RUN_DIR [RUN_DIR ...] [--y=eval_return] [--x=step] [--out=curves.png]
--                          [--title=TEXT] [--smooth=N] [--line=VALUE:LABEL ...]
-- --line draws a labelled horizontal line (e.g. the demonstrator's level, a reference score).
local dirs, opt, lines = {}, {y = "eval_return", x = "step", out = "curves.png", title = "", smooth = "1"}, {}
for _, a in ipairs(arg) do
  local k, v = a:match("^%-%-(%w+)=(.*)$")
  if k == "line" then
    local value, label = v:match("^([^:]+):(.*)$")
    if not tonumber(value) then error("plot: --line=VALUE:LABEL needs a number, got " .. v, 0) end
    lines[#lines + 1] = {tonumber(value), label}
  elseif k then
    if opt[k] == nil then error("plot: unknown option --" .. k .. " (y, x, out, title, smooth)", 0) end
    opt[k] = v
  elseif a == "--help" then
    print("usage: cleanil tools/plot.lua RUN_DIR [RUN_DIR ...] [--y=eval_return] [--x=step] [--out=curves.png] [--title=T] [--smooth=N] [--line=VALUE:LABEL ...]")
    return
  else
    dirs[#dirs + 1] = a
  end
end
if #dirs == 0 then error("plot: give at least one run directory (with a log.csv)", 0) end
if os.execute("command -v gnuplot > /dev/null 2>&1") ~= true then
  error("plot: gnuplot is not installed (apt-get install gnuplot-nox)", 0)
end
local smooth = math.max(1, math.tointeger(tonumber(opt.smooth)) or 1)

-- read a CSV into columns x, y (moving average over `smooth` points)
local function series(dir)
  local path = dir .. "/log.csv"
  local cols, header, n = cil.run.read_log(path)
  if not cols[opt.x] or not cols[opt.y] then
    error(string.format("plot: %s has no column '%s' or '%s' (has: %s)", path, opt.x, opt.y, header), 0)
  end
  local xs, ys = {}, {}
  for r = 1, n do
    local x, y = cols[opt.x][r], cols[opt.y][r]
    if x and y then xs[#xs + 1], ys[#ys + 1] = x, y end
  end
  local out = {}
  for i = 1, #xs do
    local s, n = 0, 0
    for j = math.max(1, i - smooth + 1), i do s, n = s + ys[j], n + 1 end
    out[#out + 1] = string.format("%g %g", xs[i], s / n)
  end
  return out
end

local tmp = os.tmpname()
local plots = {}
for i, d in ipairs(dirs) do
  local p = tmp .. "." .. i
  local f = assert(io.open(p, "w"))
  f:write(table.concat(series(d), "\n"), "\n")
  f:close()
  local label = d:gsub("/$", ""):match("([^/]+)$")
  plots[#plots + 1] = string.format("'%s' using 1:2 with lines lw 2 title '%s'", p, label:gsub("_", "\\_"))
end
for i, l in ipairs(lines) do
  plots[#plots + 1] = string.format("%.17g with lines lw 2 dt %d lc rgb '%s' title '%s'", l[1], 1 + i,
    ({"#444444", "#cc3311", "#0077bb", "#009988"})[(i - 1) % 4 + 1], l[2]:gsub("_", "\\_"):gsub("'", ""))
end
local g = assert(io.popen("gnuplot", "w"))
g:write(string.format([[
set terminal pngcairo size 900,560 enhanced font 'sans,11'
set output '%s'
set title '%s'
set xlabel '%s'
set ylabel '%s'
set grid
set rmargin 5
set format x '%%.0s%%c'
set autoscale xfixmax
set key bottom right
plot %s
]], opt.out, opt.title:gsub("_", "\\_"), opt.x:gsub("_", "\\_"),
  (({eval_score = "D4RL-normalized score", eval_return = "evaluation return"})[opt.y] or opt.y):gsub("_", "\\_"), table.concat(plots, ", ")))
local ok = g:close()
for i = 1, #dirs do os.remove(tmp .. "." .. i) end
os.remove(tmp)
if not ok then error("plot: gnuplot failed", 0) end
print("wrote " .. opt.out)
