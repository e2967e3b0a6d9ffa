-- wrk script for a burst of POST /api/v1/messages/sms: a different number per request, counts
-- answers by status (200 delivered, 502 failed, anything else unexpected) and prints one
-- machine-readable line. The token comes from the environment (MSGOPS_API_TOKEN).
local threads = {}
local counter = 0

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function init(args)
    delivered = 0
    failed = 0
    other = 0
    n = 0
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("MSGOPS_API_TOKEN")
end

function request()
    n = n + 1
    local to = string.format("+1416%d%06d", id, n % 1000000)
    local body = string.format('{"to":"%s","body":"Your code is 091282","code":"091282"}', to)
    return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
    if status == 200 then
        delivered = delivered + 1
    elseif status == 502 then
        failed = failed + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local d, f, o = 0, 0, 0
    for _, t in ipairs(threads) do
        d = d + t:get("delivered")
        f = f + t:get("failed")
        o = o + t:get("other")
    end
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d seconds=%.2f rps=%.0f p50_us=%d p99_us=%d max_us=%d delivered=%d failed=%d other=%d socket_errors=%d\n",
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50), latency:percentile(99), latency.max,
        d, f, o, e.connect + e.read + e.write + e.timeout))
end
