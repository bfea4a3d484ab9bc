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

if redis.replicate_commands then
  -- Redis < 5 needs this to write after TIME; later versions always do.
  redis.replicate_commands()
end

-- Floor division with the remainder, exact for integers below 2^53 even
-- where the floating-point quotient rounds across an integer.
local function divmod(x, y)
  local q = math.floor(x / y)
  local r = x - q * y
  if r < 0 then
    q = q - 1
    r = r + y
  elseif r >= y then
    q = q + 1
    r = r - y
  end
  return q, r
end

local now_us
if ARGV[1] ~= '' then
  now_us = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local n = #KEYS
local stored = redis.call('MGET', unpack(KEYS))

-- backlog[i]: how far check i's TAT is ahead of now, in ns (0 when recovered)
local backlog = {}
local admitted = 1
for i = 1, n do
  local period = tonumber(ARGV[3 * i - 1])
  local window = tonumber(ARGV[3 * i])
  local a = 0
  local s = stored[i]
  if s and #s > 3 then
    local us = tonumber(string.sub(s, 1, -4))
    local ns = tonumber(string.sub(s, -3))
    if us and ns then
      a = (us - now_us) * 1000 + ns
      if a < 0 then
        a = 0
      end
    end
  end
  backlog[i] = a
  if a + period > window then
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
    local remaining = divmod(window - next, period)
    if remaining > burst then
      remaining = burst
    end
    reply[#reply + 1] = 1
    reply[#reply + 1] = remaining
    reply[#reply + 1] = next
    reply[#reply + 1] = 0
    local us, ns = divmod(next, 1000)
    local ms, sub_ms = divmod(next, 1000000)
    if sub_ms > 0 then
      ms = ms + 1
    end
    redis.call('SET', KEYS[i], string.format('%d%03d', now_us + us, ns), 'PX', ms)
  else
    -- Nothing is consumed: report each policy's state without this request.
    local remaining = 0
    if a <= window then
      remaining = divmod(window - a, period)
      if remaining > burst then
        remaining = burst
      end
    end
    local retry = a + period - window
    if retry <= 0 then
      reply[#reply + 1] = 1
      retry = 0
    else
      reply[#reply + 1] = 0
    end
    reply[#reply + 1] = remaining
    reply[#reply + 1] = a
    reply[#reply + 1] = retry
  end
end
return reply
