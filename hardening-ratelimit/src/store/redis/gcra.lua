-- hardening-ratelimit: one GCRA decision over several keys, all or nothing.
--
-- KEYS[i]      the state of check i: its theoretical arrival time (TAT) in
--              integer nanoseconds since the Unix epoch, as a decimal string.
--              An absent key is a client with no state (fully recovered).
-- ARGV[1]      "" to read the time from the server (TIME), or a time in
--              microseconds since the Unix epoch (used by tests only).
-- ARGV[3i-1]   period of check i, nanoseconds (the time one request costs)
-- ARGV[3i]     window of check i, nanoseconds (burst * period)
-- ARGV[3i+1]   burst of check i
--
-- Reply: { admitted (0/1), then for each check:
--          allowed (0/1), remaining, reset_after (ns), retry_after (ns) }
--
-- Every key is read and decided first; only when every check admits are
-- they all written (TAT advanced by one period, PEXPIRE set to the time
-- until the state has fully recovered). A rejected request writes nothing.
--
-- Lua numbers are doubles (integers exact below 2^53). The only absolute
-- time handled as one number is "now" in microseconds (~1.7e15); TATs are
-- split into microseconds and a nanosecond remainder, and everything else
-- is a nanosecond offset from now, bounded by the window, so the arithmetic
-- is exact for windows up to 2^53 ns (~104 days).

-- (gcra_prelude.lua, in front of this script, defines the locals, divmod
-- and now_us.)

-- How far a stored TAT is ahead of now, in ns (0 when recovered or absent).
local function backlog_of(s)
  if s and #s > 3 then
    local us = tonumber(sub(s, 1, -4))
    local ns = tonumber(sub(s, -3))
    if us and ns then
      local a = (us - now_us) * 1000 + ns
      if a > 0 then
        return a
      end
    end
  end
  return 0
end

-- The time until a state of backlog `next` has recovered, in whole ms.
local function expiry_ms(next)
  local ms, rest = divmod(next, 1000000)
  if rest > 0 then
    ms = ms + 1
  end
  return ms
end

local function remaining_at(room, period, burst)
  local remaining = divmod(room, period)
  if remaining > burst then
    return burst
  end
  return remaining
end

local n = #KEYS

-- One key (the usual case): the same arithmetic without the bookkeeping.
if n == 1 then
  local period, window, burst = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  local a = backlog_of(call('GET', KEYS[1]))
  local next = a + period
  if next <= window then
    local us, ns = divmod(next, 1000)
    call('SET', KEYS[1], format('%d%03d', now_us + us, ns), 'PX', expiry_ms(next))
    return { 1, 1, remaining_at(window - next, period, burst), next, 0 }
  end
  local remaining = 0
  if a <= window then
    remaining = remaining_at(window - a, period, burst)
  end
  return { 0, 0, remaining, a, next - window }
end

local stored = call('MGET', unpack(KEYS))

-- backlog[i]: how far check i's TAT is ahead of now, in ns (0 when recovered)
local backlog = {}
local admitted = 1
for i = 1, n do
  local a = backlog_of(stored[i])
  backlog[i] = a
  if a + tonumber(ARGV[3 * i - 1]) > tonumber(ARGV[3 * i]) then
    admitted = 0
  end
end

local reply = { admitted }
for i = 1, n do
  local period = tonumber(ARGV[3 * i - 1])
  local window = tonumber(ARGV[3 * i])
  local burst = tonumber(ARGV[3 * i + 1])
  local a = backlog[i]
  if admitted == 1 then
    local next = a + period
    local us, ns = divmod(next, 1000)
    local j = 4 * i - 2
    reply[j] = 1
    reply[j + 1] = remaining_at(window - next, period, burst)
    reply[j + 2] = next
    reply[j + 3] = 0
    call('SET', KEYS[i], format('%d%03d', now_us + us, ns), 'PX', expiry_ms(next))
  else
    -- Nothing is consumed: report each policy's state without this request.
    local remaining = 0
    if a <= window then
      remaining = remaining_at(window - a, period, burst)
    end
    local retry = a + period - window
    local j = 4 * i - 2
    if retry <= 0 then
      reply[j] = 1
      retry = 0
    else
      reply[j] = 0
    end
    reply[j + 1] = remaining
    reply[j + 2] = a
    reply[j + 3] = retry
  end
end
return reply
