-- cleanil.data: dataset helpers on top of the C data layer (cil.data.*, cil.ReplayBuffer,
-- cil.checkpoint.*). Loaded by init.lua as  require("cleanil.data")(cil).
--
-- A dataset is a plain table of persistent tensors in the D4RL layout:
--   observations [N, obs_dim], actions [N, act_dim], rewards [N], terminals [N], timeouts [N],
--   next_observations [N, obs_dim], optional next_known [N], infos = {name = tensor [N, ...]},
--   metadata = {...} (file metadata, passed through untouched by row operations).
-- Row operations (select, split, combine) apply to every tensor whose first dim is N, including
-- those under `infos`, and return new tables of new persistent tensors.

return function(cil)
  local data = cil.data

  -- number of rows of a dataset table
  function data.num_rows(d)
    assert(type(d) == "table" and cil.is_tensor(d.observations), "dataset table with observations expected")
    return #d.observations
  end

  local function map_rows(d, n, fn)
    local out = {}
    for k, v in pairs(d) do
      if k == "metadata" then
        out[k] = v
      elseif cil.is_tensor(v) and v:dim() >= 1 and #v == n then
        out[k] = fn(v)
      elseif type(v) == "table" then
        out[k] = map_rows(v, n, fn)
      else
        out[k] = v
      end
    end
    return out
  end

  -- rows idx (1-based index tensor or list) of every row-aligned tensor
  function data.select(d, idx)
    local n = data.num_rows(d)
    return map_rows(d, n, function(t) return data.take(t, idx) end)
  end

  -- rows where mask (tensor [N] of 0/1) is non-zero
  function data.select_mask(d, mask)
    return data.select(d, data.mask_index(mask))
  end

  -- rows whose next_observations is a known successor (matters only for files without
  -- next_observations; otherwise returns d itself)
  function data.drop_unknown_next(d)
    if not d.next_known then return d end
    return data.select_mask(d, d.next_known)
  end

  -- undiscounted return of every complete episode, in file order
  function data.episode_returns(d)
    local r = {}
    for _, t in ipairs(data.trajectories(d)) do
      if t.complete then r[#r + 1] = t.ret end
    end
    return r
  end

  -- The first n episodes accepted by a rule, as a new dataset (episodes concatenated in file order).
  --   rule "reference" (default): CleanIL's load_d4rl_expert_trajs with skip_terminated=True —
  --       keep episode e iff e == 1 or episode e-1 did not terminate (its shifted-flag behaviour).
  --   rule "first": the first n complete episodes.
  --   rule "not_terminated": complete episodes that ended at the time limit (what the reference meant).
  -- Only complete episodes count (the unflagged tail never does). opts.allow_fewer: return fewer
  -- than n instead of raising. opts.zero_rewards: set rewards to 0 (the reference does this for
  -- expert data; see load_expert_trajs).
  function data.expert_trajectories(d, n, opts)
    opts = opts or {}
    local picked = data.pick_trajectories(d, n, opts.rule or "reference")
    if #picked < n and not opts.allow_fewer then
      error(("expert_trajectories: only %d episodes pass rule '%s', %d requested"):format(
        #picked, opts.rule or "reference", n), 2)
    end
    local out = data.select(d, data.ranges_index(picked))
    if opts.zero_rewards then out.rewards:fill_(0) end
    out.episodes = #picked
    return out
  end

  -- load_d4rl + expert_trajectories with the reference's defaults (rule "reference", rewards 0)
  function data.load_expert_trajs(path, n, opts)
    opts = opts or {}
    local d = data.load_d4rl(path, opts)
    local o = {rule = opts.rule, allow_fewer = opts.allow_fewer, zero_rewards = opts.zero_rewards ~= false}
    return data.expert_trajectories(d, n, o)
  end

  -- Where a dataset named on the command line lives. In order: an existing file as given; a Minari
  -- dataset directory (its data/main_data.hdf5); a Minari id such as "mujoco/hopper/expert-v0" under
  -- $MINARI_DATASETS_PATH or ~/.minari/datasets; a D4RL id such as "hopper-expert-v2" or
  -- "hopper-medium-replay-v2" under $D4RL_DATASET_DIR or ~/.d4rl/datasets, whose files use
  -- underscores (hopper_medium_replay-v2.hdf5). Raises an error naming every place it looked.
  local function is_file(p) local f = io.open(p, "rb"); if not f then return false end
    local ok = f:read(0) ~= nil; f:close(); return ok end
  function data.resolve(name)
    if type(name) ~= "string" or name == "" then error("dataset: a file name or dataset id is required", 2) end
    local tried = {}
    local function try(p) tried[#tried + 1] = p; return is_file(p) and p or nil end
    local home = os.getenv("HOME") or ""
    local hit = try(name) or try(name .. "/data/main_data.hdf5") or try(name .. "/main_data.hdf5")
    if hit then return hit end
    local joined = cil.shipped and cil.shipped.join_parts(name)      -- a file shipped in parts
    if joined then return joined end
    local minari = os.getenv("MINARI_DATASETS_PATH") or (home .. "/.minari/datasets")
    hit = try(minari .. "/" .. name .. "/data/main_data.hdf5")
    if hit then return hit end
    local env, level, v = name:match("^(%a[%w]*)%-([%a%-]+)%-(v%d+)$")
    if env then
      local d4rl = os.getenv("D4RL_DATASET_DIR") or (home .. "/.d4rl/datasets")
      hit = try(("%s/%s_%s-%s.hdf5"):format(d4rl, env, level:gsub("%-", "_"), v))
      if hit then return hit end
    end
    error(("dataset '%s' not found; looked for %s"):format(name, table.concat(tried, ", ")), 2)
  end

  -- Load a dataset in the D4RL or the Minari layout, told apart by content (names as data.resolve).
  function data.load(name, opts)
    local path = data.resolve(name)
    local ok, d = pcall(data.load_d4rl, path, opts)
    if ok then
      if d.timeouts_inferred and not (opts and opts.quiet) then
        print(("note: %s has no 'timeouts' key (an old D4RL file): episodes that do not terminate are cut every 1000 steps, as D4RL's readers do"):format(path))
      end
      return d, path
    end
    local ok2, d2 = pcall(data.load_minari, path, opts)
    if ok2 then return d2, path end
    error(("%s is neither a D4RL file (%s) nor a Minari dataset (%s)"):format(path, tostring(d), tostring(d2)), 2)
  end

  -- Expert demonstrations for an algorithm (opts.env names the task they must come from): the
  -- named dataset in either layout, checked against the task, then expert_trajectories with the
  -- reference's defaults (rule "reference", rewards 0).
  function data.load_experts(name, n, opts)
    opts = opts or {}
    local d, path = data.load(name, {check_finite = opts.check_finite})
    if opts.env then data.check_task(d, opts.env, path) end
    local o = {rule = opts.rule, allow_fewer = opts.allow_fewer, zero_rewards = opts.zero_rewards ~= false}
    local ok, e = pcall(data.expert_trajectories, d, n, o)
    if not ok then error(path .. ": " .. tostring(e), 0) end
    e.path, e.demo_return = path, nil
    local rs = data.episode_returns(d)
    if #rs > 0 then
      local m = 0
      for _, r in ipairs(rs) do m = m + r / #rs end
      e.demo_return = m              -- mean return of the file's complete episodes (demonstrator scale)
    end
    return e
  end

  -- random permutation of all rows (the reference's "sample everything without replacement")
  function data.shuffle(d, rng)
    local n = data.num_rows(d)
    local perm = rng and cil.randperm(rng, n) or cil.randperm(n)
    return data.select(d, perm)
  end

  -- CleanIL's train_test_split: random permutation; eval = first min(round(N*(1-ratio)), max_eval)
  -- rows of it, train = the rest. Returns train, eval.
  function data.train_test_split(d, train_ratio, rng, opts)
    train_ratio = train_ratio or 0.9
    local max_eval = opts and opts.max_eval or 1000
    local n = data.num_rows(d)
    local ne = data.eval_size(n, train_ratio, max_eval)
    local perm = rng and cil.randperm(rng, n) or cil.randperm(n)
    local tr = ne < n and perm:narrow(1, ne + 1, n - ne) or {}
    local ev = ne > 0 and perm:narrow(1, 1, ne) or {}
    return data.select(d, tr), data.select(d, ev)
  end

  -- concatenate the row-aligned tensors the two datasets share (CleanIL combine_data, no upsampling)
  function data.combine(a, b)
    local na, nb = data.num_rows(a), data.num_rows(b)
    local function cat(x, y)
      local out = {}
      for k, v in pairs(x) do
        local w = y[k]
        if cil.is_tensor(v) and cil.is_tensor(w) and v:dim() >= 1 and #v == na and #w == nb then
          out[k] = cil.cat({v, w}, 1):persist()
        elseif type(v) == "table" and type(w) == "table" and not cil.is_tensor(v) and k ~= "metadata" then
          out[k] = cat(v, w)
        end
      end
      return out
    end
    return cat(a, b)
  end

  -- observations (and next_observations) normalized with per-column mean/std; other keys shared
  function data.normalize_dataset(d, mean, std)
    local out = {}
    for k, v in pairs(d) do out[k] = v end
    out.observations = data.normalize(d.observations, mean, std)
    if d.next_observations then out.next_observations = data.normalize(d.next_observations, mean, std) end
    return out
  end

  -- Does a dataset come from task `env`? Its dimensions must fit, and the simulator must explain its
  -- rows: for up to `rows` transitions that did not end an episode, the state is rebuilt from the
  -- observation (these tasks leave only the x position out, which their dynamics do not depend on;
  -- rows whose velocities are clipped in the observation are skipped),
  -- the recorded action is applied, and the next observation must match the recorded one (mean
  -- |difference| below 1e-2; a file of another task misses by O(1)). Raises a clear error otherwise.
  function data.check_task(d, env, what, rows)
    what = what or "dataset"
    local spec = cil.env.spec(env)
    local O, A = d.observations:size(2), d.actions:size(2)
    if O ~= spec.obs_dim or A ~= spec.act_dim then
      error(("%s: observations %d and actions %d wide, but %s has %d and %d: a file of another task?"):format(
        what, O, A, env, spec.obs_dim, spec.act_dim), 0)
    end
    if not d.next_observations then return true end
    local sim = cil.env.make(env, {num_envs = 1, seed = 0})
    local nq = #sim:state(1)
    local n, want, checked, err = data.num_rows(d), rows or 20, 0, 0
    local ends = cil.maximum(d.terminals, d.timeouts):totable()
    local stride = math.max(1, n // want)
    for i = 1, n, stride do
      local o = ends[i] == 0 and checked < want and d.observations[i]:totable()
      local clipped = false                      -- hopper and walker2d clip velocities at +-10
      for j = nq, o and O or 0 do if math.abs(o[j]) >= 9.99 then clipped = true end end
      if o and not clipped then
        local a, o2 = d.actions:narrow(1, i, 1), d.next_observations[i]:totable()
        local qpos, qvel = {0}, {}
        for j = 1, nq - 1 do qpos[j + 1] = o[j] end
        for j = nq, O do qvel[#qvel + 1] = o[j] end
        sim:reset_one(1)
        sim:set_state(1, qpos, qvel)
        local got = sim:step(a)[1]:totable()
        local e = 0
        for j = 1, O do e = e + math.abs(got[j] - o2[j]) / O end
        err, checked = err + e, checked + 1
      end
    end
    sim:close()
    if checked > 0 and err / checked > 1e-2 then
      error(("%s: its transitions do not follow %s's dynamics (mean |next obs - simulated| = %.3g over %d rows): a file of another task?"):format(
        what, env, err / checked, checked), 0)
    end
    return true
  end

  -- a replay buffer holding a dataset's rows (capacity defaults to N)
  function data.to_buffer(d, capacity)
    local n = data.num_rows(d)
    local buf = cil.ReplayBuffer(capacity or math.max(n, 1), d.observations:size(2), d.actions:size(2))
    return buf:add_dataset(d)
  end

  local M = data.buffer_methods
  -- append every row of a dataset table (next_observations required; done = terminals)
  function M.add_dataset(self, d)
    assert(d.next_observations, "add_dataset: the dataset has no next_observations")
    return self:add(d.observations, d.actions, d.rewards, d.next_observations, d.terminals)
  end

  return cil
end
