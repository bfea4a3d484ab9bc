-- wrk script: counts responses by status class; with XFF=1 each request
-- carries a distinct X-Forwarded-For (10.0.0.0/8, then 11.0.0.0/8, ...),
-- numbered from XFF_BASE (so successive runs use new addresses).
local counter = 0
local xff = os.getenv("XFF") == "1"
local base = tonumber(os.getenv("XFF_BASE") or "0")
local threads = {}
c2, c4, c429, c5, c503 = 0, 0, 0, 0, 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = base + id * 16777216
end

function request()
  if xff then
    counter = counter + 1
    local n = counter
    local ip = string.format("%d.%d.%d.%d", 10 + math.floor(n / 16777216) % 100,
      math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
    -- As a TLS-terminating proxy sends them (the proxy is trusted).
    return wrk.format(nil, nil, { ["X-Forwarded-For"] = ip, ["X-Forwarded-Proto"] = "https" })
  end
  return wrk.format()
end

function response(status, headers, body)
  if status < 300 then c2 = c2 + 1
  elseif status == 429 then c429 = c429 + 1
  elseif status < 500 then c4 = c4 + 1
  elseif status == 503 then c503 = c503 + 1
  else c5 = c5 + 1 end
end

function done(summary, latency, requests)
  local t = { c2 = 0, c4 = 0, c429 = 0, c5 = 0, c503 = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
  end
  io.write(string.format("STATUS 2xx=%d 429=%d 4xx=%d 503=%d 5xx=%d\n", t.c2, t.c429, t.c4, t.c503, t.c5))
  io.write(string.format("LAT p50=%.2fms p99=%.2fms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
