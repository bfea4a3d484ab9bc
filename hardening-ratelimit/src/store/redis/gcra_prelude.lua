-- hardening-ratelimit: what gcra.lua and gcra_refund.lua share. Rust puts
-- it in front of each script (`script.rs`, with `concat!`), so both read the
-- clock and divide the same way.
--
-- ARGV[1]      "" to read the time from the server (TIME), or a time in
--              microseconds since the Unix epoch (used by tests only).

if redis.replicate_commands then
  -- Redis < 5 needs this to write after TIME; later versions always do.
  redis.replicate_commands()
end

-- Globals are slow to reach in Redis's sandbox: keep them in locals.
local tonumber, floor, sub, format, call = tonumber, math.floor, string.sub, string.format, redis.call

-- Floor division with the remainder, exact for integers below 2^53 even
-- where the floating-point quotient rounds across an integer.
local function divmod(x, y)
  local q = floor(x / y)
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
  local t = call('TIME')
  now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
