-- A TensorBoard event-file writer (scalars): TFRecord framing (length, masked CRC32C, payload,
-- masked CRC32C) around hand-encoded tensorflow.Event protobufs:
--   Event{1: double wall_time, 2: int64 step, 3: string file_version | 5: Summary}
--   Summary{1: repeated Value}, Value{1: string tag, 2: float simple_value}
return function(cil)
  local tb = {}

  -- CRC-32C (Castagnoli), reflected polynomial 0x82F63B78
  local T = {}
  for i = 0, 255 do
    local c = i
    for _ = 1, 8 do c = (c & 1) ~= 0 and ((c >> 1) ~ 0x82F63B78) or (c >> 1) end
    T[i] = c
  end
  function tb.crc32c(s)
    local c = 0xFFFFFFFF
    for i = 1, #s do c = T[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8) end
    return c ~ 0xFFFFFFFF
  end
  local function masked(s)
    local c = tb.crc32c(s)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xa282ead8) & 0xFFFFFFFF
  end

  local function varint(n)
    local out = {}
    repeat
      local b = n & 0x7F
      n = n >> 7
      out[#out + 1] = string.char(n ~= 0 and (b | 0x80) or b)
    until n == 0
    return table.concat(out)
  end
  local function key(field, wire) return varint((field << 3) | wire) end
  local function bytes(field, s) return key(field, 2) .. varint(#s) .. s end

  local function event(wall, step, what) -- what: encoded field 3 or 5
    return key(1, 1) .. string.pack("<d", wall) .. key(2, 0) .. varint(step) .. what
  end
  function tb.record(payload)
    local len = string.pack("<I8", #payload)
    return len .. string.pack("<I4", masked(len)) .. payload .. string.pack("<I4", masked(payload))
  end

  local Writer = {}
  Writer.__index = Writer
  -- a new event file in dir (or reopen `path` to append to it)
  function tb.writer(dir, path)
    local reopen = path ~= nil
    if not path then
      local p = io.popen("hostname")
      local host = p and p:read("l") or "localhost"
      if p then p:close() end
      path = string.format("%s/events.out.tfevents.%d.%s", dir, os.time(), host)
    end
    local f, err = io.open(path, "ab")
    if not f then error("tensorboard: cannot open " .. tostring(err), 0) end
    local w = setmetatable({f = f, path = path}, Writer)
    if not reopen then w:put(tb.record(event(os.time(), 0, bytes(3, "brain.Event:2")))) end
    return w
  end
  -- write and flush one record; a failed write (a full disk) is an error naming the file
  function Writer:put(rec)
    local ok, err = self.f:write(rec)
    if ok then ok, err = self.f:flush() end
    if not ok then error(string.format("cannot write %s: %s", self.path, tostring(err)), 0) end
  end
  -- every numeric entry of row (except step) as a scalar at `step`
  function Writer:scalars(step, row, prefix)
    local vals = {}
    local keys = {}
    for k in pairs(row) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = row[k]
      if k ~= "step" and type(v) == "number" and v == v then
        vals[#vals + 1] = bytes(1, bytes(1, (prefix or "") .. k) .. key(2, 5) .. string.pack("<f", v))
      end
    end
    if #vals == 0 then return end
    local wall = cil.sys and cil.sys.wall and cil.sys.wall() or os.time()
    self:put(tb.record(event(wall, math.tointeger(step) or 0, bytes(5, table.concat(vals)))))
  end
  function Writer:close() self.f:close() end

  -- the step of an Event payload (field 2), or nil
  local function payload_step(s)
    local p = 1
    local function rv()
      local n, shift = 0, 0
      repeat
        local b = s:byte(p)
        if not b or shift > 63 then return nil end
        n = n | ((b & 0x7F) << shift)
        shift, p = shift + 7, p + 1
      until b < 0x80
      return n
    end
    while p <= #s do
      local k = rv()
      if not k then return nil end
      local f, w = k >> 3, k & 7
      if w == 0 then
        local v = rv()
        if f == 2 then return v end
      elseif w == 1 then p = p + 8
      elseif w == 5 then p = p + 4
      elseif w == 2 then local n = rv(); if not n then return nil end; p = p + n
      else return nil end
    end
    return nil
  end

  -- Rewrite an event file keeping only events at steps <= step (and those without a step: the header).
  -- A torn record at the end (an interrupted write) is dropped. Returns the number of events kept.
  function tb.trim(path, step)
    local f = io.open(path, "rb")
    if not f then return 0 end
    local data = f:read("a")
    f:close()
    local pos, keep = 1, {}
    while pos + 11 <= #data do
      local len = string.unpack("<I8", data, pos)
      if string.unpack("<I4", data, pos + 8) ~= masked(data:sub(pos, pos + 7)) or pos + 15 + len > #data then break end
      local payload = data:sub(pos + 12, pos + 11 + len)
      if string.unpack("<I4", data, pos + 12 + len) ~= masked(payload) then break end
      local s = payload_step(payload)
      if s == nil or s <= step then keep[#keep + 1] = data:sub(pos, pos + 15 + len) end
      pos = pos + 16 + len
    end
    local tmp = path .. ".tmp"
    local out, err = io.open(tmp, "wb")
    if not out then error("tensorboard: cannot trim " .. tostring(err), 0) end
    local ok, werr = out:write(table.concat(keep))
    local closed, cerr = out:close()
    if not ok or not closed then
      os.remove(tmp)
      error(string.format("tensorboard: cannot trim %s: %s", path, tostring(werr or cerr)), 0)
    end
    assert(os.rename(tmp, path))
    return #keep
  end

  -- read back (for tests and tools): list of {step=, wall=, values={tag=value}} ; checks CRCs
  function tb.read(path)
    local data = assert(io.open(path, "rb")):read("a")
    local pos, events = 1, {}
    local function rvarint(s, p)
      local n, shift = 0, 0
      repeat
        local b = s:byte(p)
        n = n | ((b & 0x7F) << shift)
        shift, p = shift + 7, p + 1
      until b < 0x80
      return n, p
    end
    local function fields(s)
      local p, out = 1, {}
      while p <= #s do
        local k; k, p = rvarint(s, p)
        local f, w = k >> 3, k & 7
        local v
        if w == 0 then v, p = rvarint(s, p)
        elseif w == 1 then v = string.unpack("<d", s, p); p = p + 8
        elseif w == 5 then v = string.unpack("<f", s, p); p = p + 4
        elseif w == 2 then local n; n, p = rvarint(s, p); v = s:sub(p, p + n - 1); p = p + n
        else error("tfevents: unsupported wire type " .. w) end
        out[#out + 1] = {f, v}
      end
      return out
    end
    while pos <= #data do
      local len = string.unpack("<I8", data, pos)
      local lenb = data:sub(pos, pos + 7)
      assert(string.unpack("<I4", data, pos + 8) == masked(lenb), "tfevents: bad length CRC")
      local payload = data:sub(pos + 12, pos + 11 + len)
      assert(string.unpack("<I4", data, pos + 12 + len) == masked(payload), "tfevents: bad data CRC")
      pos = pos + 16 + len
      local ev = {values = {}}
      for _, fv in ipairs(fields(payload)) do
        if fv[1] == 1 then ev.wall = fv[2] elseif fv[1] == 2 then ev.step = fv[2]
        elseif fv[1] == 3 then ev.file_version = fv[2]
        elseif fv[1] == 5 then
          for _, val in ipairs(fields(fv[2])) do
            local tag, x
            for _, g in ipairs(fields(val[2])) do
              if g[1] == 1 then tag = g[2] elseif g[1] == 2 then x = g[2] end
            end
            ev.values[tag] = x
          end
        end
      end
      events[#events + 1] = ev
    end
    return events
  end
  return tb
end
