-- Shipped data that is made on first use. data/<env>/medium_expert.h5 (D4RL's *-medium-expert-v2:
-- the medium policy's data followed by the expert's, 1M rows each) is ≈ 200 MB, too large for the
-- repository, so it is generated from the shipped medium_policy.h5 and expert_policy.h5 with a fixed
-- seed (a few minutes of vectorized rollouts) and checked against the figures recorded when the
-- shipped version was made (data/<env>/medium_expert.lua): rows exactly, episodes and mean returns
-- within tolerances (float results, and so the episodes, differ between CPUs).
return function(cil)
  local shipped = {}
  shipped.ME_ROWS, shipped.ME_SEED, shipped.ME_ENVS = 1000000, 7, 100

  local function record_path(env) return cil.data_path(env, "medium_expert.lua") end
  function shipped.medium_expert_record(env)
    local chunk = loadfile(record_path(env), "t", {})
    return chunk and chunk() or nil
  end

  -- summary of one part: episodes (complete), mean and std of their returns
  local function summary(rets)
    local m, s = cil.run.mean_std(rets)
    return {episodes = #rets, return_mean = m, return_std = s}
  end

  -- make the medium-expert file at `out` (opts.rows per part, opts.seed, opts.envs, opts.progress);
  -- returns the figures to record or compare
  function shipped.make_medium_expert(env, out, opts)
    opts = opts or {}
    local rows, seed = opts.rows or shipped.ME_ROWS, opts.seed or shipped.ME_SEED
    local parts, figures = {}, {rows_per_part = rows, seed = seed, envs = opts.envs or shipped.ME_ENVS}
    for k, name in ipairs({"medium", "expert"}) do
      local p = cil.policy.load(cil.data_path(env, name .. "_policy.h5"), env)
      local d, rets = cil.policy.collect(p, {rows = rows, envs = figures.envs, seed = seed + k - 1, progress = opts.progress})
      parts[k], figures[name] = d, summary(rets)
    end
    local d = cil.data.combine(parts[1], parts[2])
    d.metadata = {algorithm = "SAC", source = ("cleanil tools/medium_expert.lua --env=%s --rows=%d --seed=%d"):format(env, rows, seed),
      policies = "data/" .. env .. "/medium_policy.h5 then data/" .. env .. "/expert_policy.h5"}
    local dir = out:match("^(.*)/[^/]*$")
    if dir then cil.run.mkdir_p(dir) end
    cil.data.save_d4rl(out, d)
    figures.rows = cil.data.num_rows(d)
    return figures
  end

  -- compare figures with the record: rows exactly; episodes within 3 %; each part's mean return
  -- within 5 standard errors of the recorded one
  function shipped.check_medium_expert(env, figures, record)
    record = record or shipped.medium_expert_record(env)
    if not record then return true end
    if figures.rows ~= record.rows then
      return false, ("%d rows, the record says %d"):format(figures.rows, record.rows)
    end
    for _, name in ipairs({"medium", "expert"}) do
      local got, want = figures[name], record[name]
      if math.abs(got.episodes - want.episodes) > 0.03 * want.episodes + 1 then
        return false, ("%s part: %d episodes, the record says %d"):format(name, got.episodes, want.episodes)
      end
      local tol = 5 * want.return_std / math.sqrt(math.max(want.episodes, 1))
      if math.abs(got.return_mean - want.return_mean) > tol then
        return false, ("%s part: mean return %.1f, the record says %.1f (tolerance %.1f)"):format(name,
          got.return_mean, want.return_mean, tol)
      end
    end
    return true
  end

  -- Where a file made on first use goes: beside its sources when that directory is writable (a
  -- source tree, a user's install), else (an install the user cannot write, e.g. under /usr/local) the
  -- same name under $XDG_CACHE_HOME/cleanil or ~/.cache/cleanil: data/walker2d/medium_replay.h5 ->
  -- ~/.cache/cleanil/data/walker2d/medium_replay.h5.
  function shipped.cache_path(path)
    local root = os.getenv("XDG_CACHE_HOME")
    if not root or root == "" then root = (os.getenv("HOME") or ".") .. "/.cache" end
    local rel = path:match("/(data/[^/]+/[^/]+)$") or path:match("([^/]+)$")
    return root .. "/cleanil/" .. rel
  end
  local function writable_dir(path)
    local probe = path .. ".probe-" .. tostring(os.time()) .. "-" .. tostring(math.random(1 << 30))
    local f = io.open(probe, "wb")
    if not f then return false end
    f:close()
    os.remove(probe)
    return true
  end
  -- the place of `path` once made: path itself if it exists or its directory is writable, else the cache
  function shipped.made_path(path)
    if cil.run.exists(path) then return path end
    local c = shipped.cache_path(path)
    if cil.run.exists(c) or not writable_dir(path) then return c end
    return path
  end

  -- A file over the repository's 25 MB limit is shipped in parts, <file>.part-00, -01, ... with its
  -- sha256 in <file>.sha256 (walker2d's medium-replay set): joined on first use and checked. Returns
  -- the joined file's path (shipped.made_path: beside the parts, or in the cache), or false.
  function shipped.join_parts(path)
    local cached = shipped.cache_path(path)
    if not cil.run.exists(path) and cil.run.exists(cached) then return cached end
    local parts = {}
    local ls = io.popen("ls '" .. path:gsub("'", "'\\''") .. "'.part-* 2>/dev/null")
    for line in ls:lines() do parts[#parts + 1] = line end
    ls:close()
    if #parts == 0 then return false end
    table.sort(parts)
    local dest = shipped.made_path(path)
    if dest ~= path then
      local dir = dest:match("^(.*)/[^/]*$")
      if dir then cil.run.mkdir_p(dir) end
    end
    local tmp = dest .. ".partial"
    local out = assert(io.open(tmp, "wb"))
    for _, part in ipairs(parts) do
      local f = assert(io.open(part, "rb"))
      while true do
        local chunk = f:read(1 << 20)
        if not chunk then break end
        assert(out:write(chunk))
      end
      f:close()
    end
    assert(out:close())
    local want = io.open(path .. ".sha256")
    if want then
      local w = (want:read("l") or ""):match("^(%x+)")
      want:close()
      local h = io.popen("sha256sum '" .. tmp:gsub("'", "'\\''") .. "'")
      local got = h and (h:read("l") or ""):match("^(%x+)")
      if h then h:close() end
      if got ~= w then
        os.remove(tmp)
        error(("[data] joining %s from %d parts gave sha256 %s, expected %s: a part is damaged or missing"):format(
          path, #parts, tostring(got), tostring(w)), 0)
      end
    end
    assert(os.rename(tmp, dest))
    print(("[data] joined %s from %d parts (sha256 checked)"):format(dest, #parts))
    return dest
  end

  -- path of data/<env>/<name>.h5: joined from its parts, or (medium_expert) made, on first use
  function shipped.path(env, name)
    local path = shipped.made_path(cil.data_path(env, name .. ".h5"))
    if not cil.run.exists(path) then path = shipped.join_parts(cil.data_path(env, name .. ".h5")) or path end
    if name ~= "medium_expert" or cil.run.exists(path) then return path end
    if path ~= cil.data_path(env, name .. ".h5") then
      local dir = path:match("^(.*)/[^/]*$")
      if dir then cil.run.mkdir_p(dir) end
    end
    local record = shipped.medium_expert_record(env)
    if not record then
      error(("[data] %s is not released yet (no %s to check it against); make it by hand with "
        .. "`cleanil tools/medium_expert.lua --env=%s`, or pass a file"):format(path, record_path(env), env), 0)
    end
    print(("[data] %s does not exist yet: making it from the shipped medium and expert policies (%s rows each, a few minutes)"):format(
      path, record and record.rows_per_part or shipped.ME_ROWS))
    local tmp = path .. ".partial"
    local figures = shipped.make_medium_expert(env, tmp, {rows = record and record.rows_per_part,
      seed = record and record.seed, envs = record and record.envs, progress = true})
    local ok, why = shipped.check_medium_expert(env, figures, record)
    if not ok then
      os.remove(tmp)
      error(("[data] the generated %s does not match its record (%s): the shipped policies or the simulator differ"):format(path, why), 0)
    end
    assert(os.rename(tmp, path))
    return path
  end

  cil.shipped = shipped
end
