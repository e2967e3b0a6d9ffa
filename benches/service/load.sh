#!/usr/bin/env bash
# Load test of `msgops serve --emulated` from a second process (wrk), on loopback.
#
#   benches/service/load.sh                    # builds msgops --release if needed
#   MSGOPS_BIN=target/release/msgops benches/service/load.sh
#
# 1. GET /api/v1/health/messaging for LOAD_SECONDS (default 10): throughput and p50/p99/p99.9
#    latency (wrk --latency, and a Lua `done` hook for machine-readable figures).
#    Targets: >= 20,000 req/s and p99 < 5 ms on 2 cores (shared with wrk itself).
# 2. A burst of POST /api/v1/messages/sms for BURST_SECONDS (default 5) through emulated
#    providers with Twilio failing as in the incident (401, code 20003): every answer must be
#    200 (delivered) or 502 (failed, with its record) and, once the service is idle, the sends
#    counted in /metrics must account for every answer wrk received (plus at most one request
#    per connection still in flight when wrk stopped).
#
# Needs wrk (Debian: apt-get install -y wrk) and curl. Exits non-zero when a check fails;
# the throughput and latency targets are reported, and enforced with LOAD_ENFORCE_TARGETS=1.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/benches/service"
cd "$repo"

seconds="${LOAD_SECONDS:-10}"
burst_seconds="${BURST_SECONDS:-5}"
threads="${LOAD_THREADS:-1}"
connections="${LOAD_CONNECTIONS:-32}"
burst_connections="${BURST_CONNECTIONS:-16}"

command -v wrk >/dev/null || { echo "load.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 2; }

bin="${MSGOPS_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --quiet --release -p msgops-cli
    bin="$repo/target/release/msgops"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export MSGOPS_API_TOKEN="msgops_load_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
base="http://127.0.0.1:$port"

MSGOPS_DATA_DIR="$work/data" MSGOPS_CONFIG="$work/none.toml" MSGOPS_LOG=warn \
    "$bin" serve --emulated --emulate-failure twilio --listen "127.0.0.1:$port" \
    --sms-per-hour 0 >"$work/serve.log" 2>&1 &
pid=$!
cleanup() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    curl -fsS "$base/api/v1/health/messaging" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; echo "load.sh: msgops serve died" >&2; exit 1; }
    sleep 0.1
done

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
metric_sum() { # sum of a metric's samples whose labels contain $2
    curl -fsS "$base/metrics" | awk -v m="$1" -v f="$2" 'index($0, m"{") == 1 && index($0, f) { s += $NF } END { printf "%d", s }'
}
status=0

echo "== GET /api/v1/health/messaging: $seconds s, $threads wrk thread(s), $connections connections, $(nproc) cores"
curl -fsS "$base/api/v1/health/messaging" >/dev/null
out="$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$here/health.lua" "$base/api/v1/health/messaging")"
echo "$out"
result="$(grep '^RESULT' <<<"$out")"
rps="$(field rps "$result")"
p99_us="$(field p99_us "$result")"
if [[ "$(field status_other "$result")" != 0 || "$(field socket_errors "$result")" != 0 ]]; then
    echo "FAIL: health answered something else than 200/503, or sockets failed" >&2
    status=1
fi
verdict="met"
if (( rps < 20000 || p99_us >= 5000 )); then
    verdict="NOT met"
    [[ "${LOAD_ENFORCE_TARGETS:-0}" == 1 ]] && status=1
fi
echo "health: ${rps} req/s, p99 $(awk -v u="$p99_us" 'BEGIN{printf "%.2f", u/1000}') ms (targets >= 20000 req/s, p99 < 5 ms: $verdict)"

echo
echo "== POST /api/v1/messages/sms burst: $burst_seconds s, $burst_connections connections (SNS 10/s, Twilio failing, Console last resort)"
out="$(wrk -t1 -c"$burst_connections" -d"${burst_seconds}s" --latency -s "$here/send.lua" "$base/api/v1/messages/sms")"
echo "$out"
result="$(grep '^RESULT' <<<"$out")"
delivered="$(field delivered "$result")"
failed="$(field failed "$result")"
other="$(field other "$result")"
# Let the sends still under way when wrk stopped finish, and the metrics task count them.
for _ in $(seq 1 50); do
    sleep 0.2
    counted=$(( $(metric_sum msgops_sends_total 'channel="sms"') ))
    [[ "$counted" -ge $(( delivered + failed )) ]] && break
done
sleep 1
m_delivered="$(metric_sum msgops_sends_total 'outcome="delivered"')"
m_failed="$(metric_sum msgops_sends_total 'outcome="failed"')"
lagged="$(curl -fsS "$base/metrics" | awk '$1 == "msgops_events_lagged_total" { printf "%d", $2 }')"
by_provider="$(curl -fsS "$base/metrics" | grep '^msgops_sends_total' | sed 's/msgops_sends_total//' | tr '\n' ' ')"
echo "wrk answers: delivered=$delivered failed=$failed other=$other"
echo "metrics:     delivered=$m_delivered failed=$m_failed lagged_events=$lagged"
echo "by provider: $by_provider"
echo "failovers:   $(curl -fsS "$base/metrics" | grep '^msgops_failovers_total' | sed 's/msgops_failovers_total//' | tr '\n' ' ')"
answered=$(( delivered + failed ))
counted=$(( m_delivered + m_failed ))
if [[ "$other" != 0 ]]; then
    echo "FAIL: $other sends answered neither 200 nor 502" >&2
    status=1
fi
if [[ "$lagged" != 0 ]]; then
    echo "FAIL: the metrics task missed $lagged chain events" >&2
    status=1
fi
if (( counted < answered || counted > answered + burst_connections )); then
    echo "FAIL: $answered answers but $counted sends counted (at most $burst_connections may have been in flight when wrk stopped)" >&2
    status=1
else
    echo "every send ended delivered or failed: $answered answered, $counted recorded ($(( counted - answered )) finished after wrk stopped)"
fi

# Graceful shutdown with nothing lost.
kill -TERM "$pid"
if ! wait "$pid"; then
    echo "FAIL: msgops serve did not exit cleanly on SIGTERM" >&2
    status=1
fi
grep -q "abandoned" "$work/serve.log" && { echo "FAIL: sends abandoned at shutdown" >&2; status=1; }
exit $status
