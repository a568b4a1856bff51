-- wrk script for bench_http_serve.py: GET /v1/recommend/<user>?n=N with the user drawn
-- uniformly from RECD_USER_FIRST..RECD_USER_FIRST+RECD_USERS-1 (environment; 1..2999 by default)
-- and named RECD_USER_PREFIX followed by the number, a new draw per request, so consecutive
-- requests are for different users. done() prints one machine-readable line (latencies in
-- microseconds).
local n_users = tonumber(os.getenv("RECD_USERS") or "2999")
local first = tonumber(os.getenv("RECD_USER_FIRST") or "1")
local prefix = os.getenv("RECD_USER_PREFIX") or ""
local n_items = tonumber(os.getenv("RECD_N") or "10")

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

request = function()
  local user = prefix .. math.random(first, first + n_users - 1)
  return wrk.format("GET", "/v1/recommend/" .. user .. "?n=" .. n_items)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d errors=%d non2xx=%d seconds=%.3f p50=%.0f p99=%.0f p999=%.0f max=%.0f\n",
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
