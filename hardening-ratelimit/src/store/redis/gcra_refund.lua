-- hardening-ratelimit: gives one request's cost back on several keys.
--
-- On a Redis Cluster a request whose policies key on different clients
-- (auth by IP, api by user) is decided by one gcra.lua call per hash slot.
-- When one slot rejects the request, the slots that admitted it have
-- consumed one period each; this script takes it back, so a rejected
-- request consumes nothing, as on a standalone Redis.
--
-- KEYS[i]      the state of check i, as in gcra.lua
-- ARGV[1]      "" to read the time from the server (TIME), or a time in
--              microseconds since the Unix epoch (used by tests only)
-- ARGV[i+1]    period of check i, nanoseconds
--
-- Reply: the number of keys given back to.
--
-- Moving a TAT back by one period is exactly the undo of the admission as
-- long as the state has not fully recovered in between (then the key is
-- absent or in the past and there is nothing left to give back). The
-- arithmetic is gcra.lua's (see there).

-- (gcra_prelude.lua, in front of this script, defines the locals, divmod
-- and now_us.)

local given = 0
for i = 1, #KEYS do
  local s = call('GET', KEYS[i])
  local a = 0
  if s and #s > 3 then
    local us = tonumber(sub(s, 1, -4))
    local ns = tonumber(sub(s, -3))
    if us and ns then
      a = (us - now_us) * 1000 + ns
    end
  end
  if a > 0 then
    local next = a - tonumber(ARGV[i + 1])
    if next > 0 then
      local us, ns = divmod(next, 1000)
      local ms, rest = divmod(next, 1000000)
      if rest > 0 then
        ms = ms + 1
      end
      call('SET', KEYS[i], format('%d%03d', now_us + us, ns), 'PX', ms)
    else
      call('DEL', KEYS[i])
    end
    given = given + 1
  end
end
return given
