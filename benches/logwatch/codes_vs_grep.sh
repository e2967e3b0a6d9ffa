#!/usr/bin/env bash
# Compares `msgops codes` with `grep -c -F OTP` on a generated ~1 GiB realistic backend log.
# Prints both wall times (best of 3, warm page cache), the ratio, and msgops' peak RSS.
# Targets: ratio <= 1.5, peak RSS <= 64 MiB. Usage: benches/logwatch/codes_vs_grep.sh [BYTES]
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE="${1:-1073741824}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
LOG="$TMP/backend.log"

# MSGOPS / GEN_LOG may point at prebuilt binaries; otherwise they are built here.
if [ -z "${MSGOPS:-}" ]; then cargo build --release -q -p msgops-cli; MSGOPS=target/release/msgops; fi
if [ -z "${GEN_LOG:-}" ]; then
  cargo build --release -q -p msgops-logwatch --example gen_log; GEN_LOG=target/release/examples/gen_log
fi
"$GEN_LOG" "$LOG" "$SIZE"
echo "log: $(du -h "$LOG" | cut -f1), $(wc -l < "$LOG") lines"
cat "$LOG" > /dev/null # warm the page cache for both tools

best() { # best wall time in seconds of 3 runs of "$@", output discarded
  local best=""
  for _ in 1 2 3; do
    local s e t
    s=$(date +%s.%N); "$@" > "$TMP/out"; e=$(date +%s.%N) # not /dev/null: GNU grep stops at the first match then
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  echo "$best"
}

GREP=$(best grep -c -F OTP "$LOG")
# Default filter (non-expired at --now, after the log ends): scans everything, keeps nothing.
CODES=$(best "$MSGOPS" codes --log "$LOG" --now 2025-12-01T00:00:00)
# All codes as JSON: scans and prints everything.
ALL=$(best "$MSGOPS" codes --log "$LOG" --include-expired --json)

printf 'grep -c -F OTP                    %6.3f s\n' "$GREP"
printf 'msgops codes (default filter)     %6.3f s   ratio %.2f\n' "$CODES" "$(echo "$CODES / $GREP" | bc -l)"
printf 'msgops codes --include-expired    %6.3f s   ratio %.2f (prints %s codes)\n' "$ALL" \
  "$(echo "$ALL / $GREP" | bc -l)" "$("$MSGOPS" codes --log "$LOG" --include-expired | wc -l)"

rss() { # peak RSS in KiB
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1
  else
    "$@" > /dev/null & local pid=$! peak=0
    while kill -0 "$pid" 2>/dev/null; do
      local r; r=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      [ "${r:-0}" -gt "$peak" ] && peak=$r; sleep 0.01
    done
    echo "$peak"
  fi
}
printf 'msgops peak RSS (default filter)   %6.1f MiB\n' "$(echo "$(rss "$MSGOPS" codes --log "$LOG" --now 2025-12-01T00:00:00) / 1024" | bc -l)"
printf 'msgops peak RSS (--include-expired --json) %6.1f MiB\n' "$(echo "$(rss "$MSGOPS" codes --log "$LOG" --include-expired --json) / 1024" | bc -l)"
