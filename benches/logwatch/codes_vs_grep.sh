#!/usr/bin/env bash
# Compares `msgops codes --json` with `grep -c -F OTP` and `rg -c -F OTP` on a generated ~1 GiB
# realistic backend log, in the same run. Prints the wall times (best of 3, warm page cache), the
# ratios, and msgops' peak RSS. Targets: within 1.2x of both, peak RSS <= 64 MiB.
# Usage: benches/logwatch/codes_vs_grep.sh [BYTES]
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE="${1:-1073741824}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
LOG="$TMP/backend.log"
# The scan reads no user configuration: only what the command line says.
export MSGOPS_CONFIG="$TMP/config.toml" MSGOPS_DATA_DIR="$TMP/data"
command -v rg >/dev/null || { echo "rg not found: apt-get install ripgrep" >&2; exit 1; }

# MSGOPS / GEN_LOG may point at prebuilt binaries; otherwise they are built here.
if [ -z "${MSGOPS:-}" ]; then cargo build --release -q -p msgops-cli; MSGOPS=target/release/msgops; fi
if [ -z "${GEN_LOG:-}" ]; then
  cargo build --release -q -p msgops-logwatch --example gen_log; GEN_LOG=target/release/examples/gen_log
fi
[ -x "$MSGOPS" ] && [ -x "$GEN_LOG" ] || { echo "missing $MSGOPS or $GEN_LOG" >&2; exit 1; }
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
RG=$(best rg -c -F OTP "$LOG")
# What support runs: valid codes now, as JSON (every line is read; the log's codes are old, so
# it keeps none), and the recipients of concurrent requests tracked all the way.
CODES=$(best "$MSGOPS" codes --log "$LOG" --json)
# A number's whole history: every line is read, recipients tracked, few codes printed.
HIST=$(best "$MSGOPS" codes --log "$LOG" --include-expired --phone 0123 --json)
# All codes as JSON: scans and prints everything.
ALL=$(best "$MSGOPS" codes --log "$LOG" --include-expired --json)

printf 'grep -c -F OTP                     %6.3f s\n' "$GREP"
printf 'rg -c -F OTP                       %6.3f s\n' "$RG"
printf 'msgops codes --json                %6.3f s   %.2fx grep, %.2fx rg\n' "$CODES" \
  "$(echo "$CODES / $GREP" | bc -l)" "$(echo "$CODES / $RG" | bc -l)"
printf 'msgops codes --include-expired --phone 0123 --json %6.3f s   %.2fx grep, %.2fx rg\n' "$HIST" \
  "$(echo "$HIST / $GREP" | bc -l)" "$(echo "$HIST / $RG" | bc -l)"
printf 'msgops codes --include-expired --json %6.3f s   %.2fx grep (prints %s codes)\n' "$ALL" \
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
printf 'msgops peak RSS (--json)           %6.1f MiB\n' "$(echo "$(rss "$MSGOPS" codes --log "$LOG" --json) / 1024" | bc -l)"
printf 'msgops peak RSS (--include-expired --json) %6.1f MiB\n' "$(echo "$(rss "$MSGOPS" codes --log "$LOG" --include-expired --json) / 1024" | bc -l)"
