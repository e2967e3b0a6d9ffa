#!/usr/bin/env bash
# What sharing the state on Redis costs `msgops serve`, on loopback (not part of the tests):
#
# 1. The latency added per send: one connection (wrk -c1), sends one after the other through
#    emulated providers, each with its own number (the recipient limit's script) and its own
#    Idempotency-Key (the key's script), SNS at a rate that never limits but is asked (the
#    GCRA script): p50 and p99 with `[state] backend = "memory"`, then on a redis-server;
#    the difference is what the shared state adds. Target: at most 1 ms at p99.
# 2. Sends per second with 16 connections: one instance on memory, one on Redis, three on one
#    Redis (one wrk each, at once; the machine's cores are shared by all of them).
#
#   scripts/bench-shared-state.sh                      # builds msgops --release if needed
#   MSGOPS_BIN=target/debug/msgops scripts/bench-shared-state.sh
#   BENCH_SECONDS=20 scripts/bench-shared-state.sh
#
# Needs wrk, redis-server (Debian: apt-get install -y wrk redis-server), curl and python3.
# Exits non-zero when a send is not answered 200; the latency target is reported, and enforced
# with BENCH_ENFORCE_TARGET=1.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-16}"

for tool in wrk redis-server curl python3; do
    command -v "$tool" >/dev/null || { echo "bench-shared-state.sh: $tool is missing (apt-get install -y wrk redis-server curl)" >&2; exit 2; }
done

bin="${MSGOPS_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --quiet --release -p msgops-cli
    bin="$repo/target/release/msgops"
fi

work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export MSGOPS_API_TOKEN="msgops_bench_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

redis_port="$(free_port)"
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/redis" \
    >"$work/redis/log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
    sleep 0.05
done

# One request after the other (or as many as wrk's connections), each a new number and key.
cat >"$work/send.lua" <<'LUA'
local threads = {}
local counter = 0
function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end
function init(args)
    ok, other, n = 0, 0, 0
    seed = tonumber(os.getenv("BENCH_SEED") or "1")
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("MSGOPS_API_TOKEN")
end
function request()
    n = n + 1
    local to = string.format("+1%d%d%08d", seed, id, n % 100000000)
    local body = string.format('{"to":"%s","body":"Your code is 091282","code":"091282"}', to)
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", seed, id, n)
    return wrk.format(nil, nil, headers, body)
end
function response(status, headers, body)
    if status == 200 then ok = ok + 1 else other = other + 1 end
end
function done(summary, latency, requests)
    local o, x = 0, 0
    for _, t in ipairs(threads) do o = o + t:get("ok"); x = x + t:get("other") end
    local e = summary.errors
    io.write(string.format("RESULT requests=%d rps=%.0f p50_us=%d p99_us=%d ok=%d other=%d socket_errors=%d\n",
        summary.requests, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99), o, x, e.connect + e.read + e.write + e.timeout))
end
LUA

# start NAME BACKEND: an emulated `msgops serve` on a free port; sets $url to its base URL
# and $pid to its process (also kept in pids, for the cleanup).
start() {
    local name="$1" backend="$2" port dir
    port="$(free_port)"
    dir="$work/$name"
    mkdir -p "$dir/data"
    cat >"$dir/config.toml" <<TOML
[sns.policy]
rate_per_second = 10000.0

[console]
log_path = "$dir/console-sms.log"

[state]
backend = "$backend"
instances = 3
TOML
    MSGOPS_CONFIG="$dir/config.toml" MSGOPS_DATA_DIR="$dir/data" MSGOPS_INSTANCE_ID="$name" MSGOPS_LOG=warn \
        "$bin" serve --emulated --listen "127.0.0.1:$port" --log "$dir/backend.log" \
        >"$dir/serve.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 200); do
        curl -fsS "$url/api/v1/health/messaging" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$dir/serve.log" >&2
    echo "bench-shared-state.sh: msgops serve ($name) did not start" >&2
    exit 1
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
status=0
# run URL CONNECTIONS SEED: one wrk; prints its RESULT line.
run() {
    local out
    out="$(BENCH_SEED="$3" wrk -t1 -c"$2" -d"${seconds}s" --latency -s "$work/send.lua" "$1/api/v1/messages/sms")"
    grep '^RESULT' <<<"$out"
}
check() {
    if [[ "$(field other "$1")" != 0 || "$(field socket_errors "$1")" != 0 ]]; then
        echo "FAIL: a send was not answered 200: $1" >&2
        status=1
    fi
}

start memory memory; memory="$url" memory_pid="$pid"
start shared "redis://127.0.0.1:$redis_port"; shared="$url" shared_pid="$pid"
state="$(curl -fsS "$shared/api/v1/health/messaging" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
[[ "$state" == shared ]] || { echo "FAIL: the Redis instance says state=$state" >&2; exit 1; }

echo "== latency per send, one connection, $seconds s each, $(nproc) cores"
# Warm both up (connections, scripts loaded), then measure.
BENCH_SEED=9 wrk -t1 -c1 -d1s -s "$work/send.lua" "$memory/api/v1/messages/sms" >/dev/null
BENCH_SEED=8 wrk -t1 -c1 -d1s -s "$work/send.lua" "$shared/api/v1/messages/sms" >/dev/null
m="$(run "$memory" 1 1)"; check "$m"
r="$(run "$shared" 1 2)"; check "$r"
printf '%-28s p50 %6.3f ms  p99 %6.3f ms  (%s sends/s)\n' "memory" \
    "$(bc -l <<<"$(field p50_us "$m")/1000")" "$(bc -l <<<"$(field p99_us "$m")/1000")" "$(field rps "$m")"
printf '%-28s p50 %6.3f ms  p99 %6.3f ms  (%s sends/s)\n' "redis (loopback)" \
    "$(bc -l <<<"$(field p50_us "$r")/1000")" "$(bc -l <<<"$(field p99_us "$r")/1000")" "$(field rps "$r")"
added_p50=$(( $(field p50_us "$r") - $(field p50_us "$m") ))
added_p99=$(( $(field p99_us "$r") - $(field p99_us "$m") ))
verdict="met"
if (( added_p99 > 1000 )); then
    verdict="NOT met"
    [[ "${BENCH_ENFORCE_TARGET:-0}" == 1 ]] && status=1
fi
printf 'added by the shared state:   p50 %6.3f ms  p99 %6.3f ms  (target <= 1 ms at p99: %s)\n' \
    "$(bc -l <<<"$added_p50/1000")" "$(bc -l <<<"$added_p99/1000")" "$verdict"

echo "== sends per second, $connections connections per instance, $seconds s"
m="$(run "$memory" "$connections" 3)"; check "$m"
echo "1 instance, memory:          $(field rps "$m") sends/s (p99 $(field p99_us "$m") µs)"
r="$(run "$shared" "$connections" 4)"; check "$r"
echo "1 instance, redis:           $(field rps "$r") sends/s (p99 $(field p99_us "$r") µs)"
# Three fresh instances on the one redis-server (the two above stopped, to leave them the
# cores).
kill -TERM "$memory_pid" "$shared_pid" 2>/dev/null || true
wait "$memory_pid" "$shared_pid" 2>/dev/null || true
three=()
for name in shared-a shared-b shared-c; do
    start "$name" "redis://127.0.0.1:$redis_port"; three+=("$url")
done
results=() runs=()
for url in "${three[@]}"; do
    seed=$(( 5 + ${#results[@]} ))
    results+=("$work/three-$seed")
    run "$url" "$(( (connections + 2) / 3 ))" "$seed" >"$work/three-$seed" &
    runs+=($!)
done
wait "${runs[@]}"
total=0
for f in "${results[@]}"; do
    line="$(cat "$f")"; check "$line"
    total=$(( total + $(field rps "$line") ))
done
echo "3 instances, one redis:      $total sends/s together ($(( (connections + 2) / 3 )) connections each)"
exit "$status"
