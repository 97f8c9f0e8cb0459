-- Neural-network modules: Linear, EnsembleLinear, MLP, EnsembleMLP. Parameters are persistent
-- tensors (cil.param); forward passes are engine ops, so they run in C and are freed by cil.reset().
return function(cil)
  local nn = {}

  local function rng_of(opts) return opts and opts.rng or nil end -- nil: the default generator

  -- shared module behaviour ------------------------------------------------------------------
  local Module = {}
  Module.__index = Module
  function Module:__call(...) return self:forward(...) end
  -- parameters in a fixed order, with names ("layers.1.weight")
  function Module:named_parameters()
    local out = {}
    for _, p in ipairs(self._params) do out[#out + 1] = {p[1], self[p[1]] or p[2]} end
    for _, c in ipairs(self._children or {}) do
      for _, np in ipairs(c[2]:named_parameters()) do out[#out + 1] = {c[1] .. "." .. np[1], np[2]} end
    end
    return out
  end
  function Module:parameters()
    local out = {}
    for _, np in ipairs(self:named_parameters()) do out[#out + 1] = np[2] end
    return out
  end
  function Module:zero_grad() cil.optim.zero_grads(self:parameters()) end
  function Module:requires_grad_(on)
    cil.optim.set_requires_grad(self:parameters(), on ~= false)
    return self
  end
  function Module:copy_from(other) cil.optim.copy_params(self:parameters(), other:parameters()); return self end
  -- target <- tau*target + (1-tau)*source
  function Module:polyak_from(source, tau) cil.optim.polyak(self:parameters(), source:parameters(), tau) end
  function Module:num_parameters()
    local n = 0
    for _, p in ipairs(self:parameters()) do n = n + p:numel() end
    return n
  end
  function Module:state_dict()
    local sd = {}
    for _, np in ipairs(self:named_parameters()) do sd[np[1]] = np[2] end
    return sd
  end
  function Module:load_state_dict(sd, what)
    what = what or "load_state_dict"
    for _, np in ipairs(self:named_parameters()) do
      local t = sd[np[1]]
      if t == nil then error(string.format("%s: missing entry '%s'", what, np[1]), 2) end
      local want, got = np[2]:shape(), t:shape()
      if table.concat(want, ",") ~= table.concat(got, ",") then
        error(string.format("%s: '%s' has shape [%s] in the file, the module expects [%s]", what, np[1],
          table.concat(got, ", "), table.concat(want, ", ")), 2)
      end
      np[2]:copy_(t)
    end
    return self
  end
  nn.Module = Module

  -- one optimizer step on loss: zero the grads, backward into params only, clip their global norm
  -- (clip nil: no clipping), step. Returns the loss's value.
  function cil.optim.minimize(opt, loss, params, clip)
    opt:zero_grad()
    loss:backward({inputs = params})
    if clip then cil.optim.clip_grad_norm(params, clip) end
    opt:step()
    return loss:item()
  end

  local function class(name)
    local c = setmetatable({}, {__index = Module})
    c.__index = c
    c.__call = Module.__call
    c.__name = name
    c.__tostring = function(self) return self:describe() end
    return c
  end

  -- Linear: y = x W^T + b, W [out, in]; PyTorch's default init (kaiming-uniform a=sqrt(5)
  -- => U(+-1/sqrt(in)) for W, U(+-1/sqrt(in)) for b) ----------------------------------------
  local Linear = class("Linear")
  nn.Linear = function(nin, nout, opts)
    opts = opts or {}
    local self = setmetatable({in_features = nin, out_features = nout, _params = {}}, Linear)
    local bound = 1 / math.sqrt(nin)
    local rng = rng_of(opts)
    self.weight = cil.param(cil.uniform(rng, -bound, bound, nout, nin))
    self._params[1] = {"weight"}
    if opts.bias ~= false then
      self.bias = cil.param(cil.uniform(rng, -bound, bound, nout))
      self._params[2] = {"bias"}
    end
    if opts.zero_init then self.weight:fill_(0); if self.bias then self.bias:fill_(0) end end
    return self
  end
  function Linear:forward(x) return cil.linear(x, self.weight, self.bias) end
  function Linear:describe() return string.format("Linear(%d -> %d)", self.in_features, self.out_features) end

  -- EnsembleLinear: E members, W [E, in, out], b [E, 1, out]; x [E, B, in] (or [B, in] shared).
  -- Init as the reference's dynamics ensemble: W ~ N(0, (1/(2 sqrt(in)))^2) truncated at +-2, b = 0.
  local EnsembleLinear = class("EnsembleLinear")
  nn.EnsembleLinear = function(E, nin, nout, opts)
    opts = opts or {}
    local self = setmetatable({members = E, in_features = nin, out_features = nout,
      _params = {{"weight"}, {"bias"}}}, EnsembleLinear)
    local rng = rng_of(opts)
    if opts.init == "linear" then -- E independent nn.Linear layers (PyTorch default init)
      local bound = 1 / math.sqrt(nin)
      self.weight = cil.param(cil.uniform(rng, -bound, bound, E, nin, nout))
      self.bias = cil.param(cil.uniform(rng, -bound, bound, E, 1, nout))
    else
      local std = 1 / (2 * math.sqrt(nin))
      local w = cil.normal(rng, 0, std, E, nin, nout)
      self.weight = cil.param(w:clamp(-2, 2)) -- truncation at +-2 (never active at this std)
      self.bias = cil.param(cil.zeros(E, 1, nout))
    end
    if opts.zero_init then self.weight:fill_(0); self.bias:fill_(0) end
    return self
  end
  function EnsembleLinear:forward(x) return cil.ensemble_linear(x, self.weight, self.bias) end
  function EnsembleLinear:describe()
    return string.format("EnsembleLinear(%d x %d -> %d)", self.members, self.in_features, self.out_features)
  end

  -- activations by name
  local acts = {
    silu = function(x) return x:silu() end,
    relu = function(x) return x:relu() end,
    tanh = function(x) return x:tanh() end,
    sigmoid = function(x) return x:sigmoid() end,
    leaky_relu = function(x) return x:leaky_relu(0.01) end,
    identity = function(x) return x end,
  }
  nn.activations = acts
  local function get_act(name)
    local f = acts[name or "silu"]
    if not f then
      local names = {}
      for k in pairs(acts) do names[#names + 1] = k end
      table.sort(names)
      error(string.format("unknown activation '%s' (known: %s)", tostring(name), table.concat(names, ", ")), 3)
    end
    return f
  end

  -- MLP: Linear -> act -> ... -> Linear (no output activation), as torchrl's MLP
  local MLP = class("MLP")
  local function build_mlp(cls, layer, nin, hidden, nout, opts, lead)
    opts = opts or {}
    local self = setmetatable({activation = opts.activation or "silu", _params = {}, _children = {}}, cls)
    self.act = get_act(self.activation)
    local sizes = {nin}
    for _, h in ipairs(hidden or {}) do sizes[#sizes + 1] = h end
    sizes[#sizes + 1] = nout
    self.layers = {}
    for i = 1, #sizes - 1 do
      local o = {rng = opts.rng, init = opts.init, zero_init = opts.zero_last and i == #sizes - 1}
      local l = lead and layer(lead, sizes[i], sizes[i + 1], o) or layer(sizes[i], sizes[i + 1], o)
      self.layers[i] = l
      self._children[i] = {"layers." .. i, l}
    end
    self.sizes = sizes
    return self
  end
  nn.MLP = function(nin, hidden, nout, opts) return build_mlp(MLP, nn.Linear, nin, hidden, nout, opts) end
  -- without a graph, on many rows (rollouts, relabelling), the whole MLP is one engine pass that runs
  -- blocks of rows through every layer (cil.mlp_forward: same bits, activations kept in cache)
  local fused = {silu = true, relu = true, tanh = true, sigmoid = true}
  local BLOCK_ROWS = 1024 -- the engine's own threshold (engine/core/mlp_forward.c)
  local function layer_lists(layers)
    local ws, bs = {}, {}
    for i, l in ipairs(layers) do ws[i], bs[i] = l.weight, l.bias or false end
    return ws, bs
  end
  function MLP:forward(x)
    local n = #self.layers
    if fused[self.activation] and not cil.is_grad_enabled() and x:numel() >= BLOCK_ROWS * x:size(-1) then
      local ws, bs = layer_lists(self.layers)
      return cil.mlp_forward(x, ws, bs, self.activation, "linear")
    end
    for i = 1, n - 1 do x = self.act(self.layers[i]:forward(x)) end
    return self.layers[n]:forward(x)
  end
  function MLP:describe()
    return string.format("MLP(%s, %s)", table.concat(self.sizes, " -> "), self.activation)
  end

  local EnsembleMLP = class("EnsembleMLP")
  nn.EnsembleMLP = function(E, nin, hidden, nout, opts)
    local m = build_mlp(EnsembleMLP, nn.EnsembleLinear, nin, hidden, nout, opts, E)
    m.members = E
    return m
  end
  -- without a graph, each hidden layer and its activation are one engine pass (same bits), and on many
  -- rows (a rollout's 5000 x 7 members) the whole ensemble is one pass in row blocks (cil.mlp_forward)
  function EnsembleMLP:forward(x)
    if not (fused[self.activation] and not cil.is_grad_enabled()) then return MLP.forward(self, x) end
    if x:dim() >= 2 and x:size(-2) >= BLOCK_ROWS then
      local ws, bs = layer_lists(self.layers)
      return cil.mlp_forward(x, ws, bs, self.activation, "ensemble")
    end
    local n = #self.layers
    for i = 1, n - 1 do
      local l = self.layers[i]
      x = cil.ensemble_linear(x, l.weight, l.bias, self.activation)
    end
    return self.layers[n]:forward(x)
  end
  function EnsembleMLP:describe()
    return string.format("EnsembleMLP(%d x %s, %s)", self.members, table.concat(self.sizes, " -> "), self.activation)
  end

  -- DoubleQ: two independent Q MLPs on x = [o, a], evaluated together as a 2-member ensemble
  -- (PyTorch default init per member); forward(x [B, in]) -> [2, B, 1]; min over members via :minq.
  nn.DoubleQ = function(nin, hidden, opts)
    opts = opts or {}
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.init = "linear"
    local q = nn.EnsembleMLP(2, nin, hidden, 1, o)
    q.minq = function(self, x) local y = self:forward(x); return cil.minimum(y[1], y[2]) end
    return q
  end

  -- deep copy with fresh persistent parameters (targets)
  function Module:clone()
    local function copy(v, seen)
      if cil.is_tensor(v) then
        if v:is_persistent() then
          local p = v:persist()
          if v:requires_grad() then p:requires_grad_(true) end
          return p
        end
        return v
      end
      if type(v) ~= "table" then return v end
      if seen[v] then return seen[v] end
      local t = setmetatable({}, getmetatable(v))
      seen[v] = t
      for k, x in pairs(v) do t[k] = copy(x, seen) end
      return t
    end
    return copy(self, {})
  end

  return nn
end
