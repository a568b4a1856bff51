-- wrk script for bench_http_serve.py: GET /v1/recommend/<user>?n=N with the user drawn
-- uniformly from 1..RECD_USERS (environment), a new draw per request, so consecutive requests
-- are for different users. done() prints one machine-readable line (latencies in microseconds).
local n_users = tonumber(os.getenv("RECD_USERS") or "2999")
local n_items = tonumber(os.getenv("RECD_N") or "10")

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

request = function()
  return wrk.format("GET", "/v1/recommend/" .. math.random(1, n_users) .. "?n=" .. n_items)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d errors=%d non2xx=%d seconds=%.3f p50=%.0f p99=%.0f p999=%.0f max=%.0f\n",
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
