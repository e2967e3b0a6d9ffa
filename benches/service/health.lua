-- wrk script for GET /api/v1/health/messaging: counts answers by status and prints one
-- machine-readable line with throughput and latency percentiles (microseconds).
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok = 0
    unhealthy = 0
    other = 0
end

function response(status, headers, body)
    if status == 200 then
        ok = ok + 1
    elseif status == 503 then
        unhealthy = unhealthy + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local ok_total, unhealthy_total, other_total = 0, 0, 0
    for _, t in ipairs(threads) do
        ok_total = ok_total + t:get("ok")
        unhealthy_total = unhealthy_total + t:get("unhealthy")
        other_total = other_total + t:get("other")
    end
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d seconds=%.2f rps=%.0f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d status_200=%d status_503=%d status_other=%d socket_errors=%d\n",
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency:percentile(99.9), latency.max,
        ok_total, unhealthy_total, other_total,
        e.connect + e.read + e.write + e.timeout))
end
