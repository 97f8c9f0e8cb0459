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
