#!/usr/bin/env bash
# The send history's benchmark (not part of the tests): fills a SQLite history with 1,000,000
# sends over 90 days and prints how long a filtered page and the 90-day summary take (target:
# each under 50 ms), beside what the old JSON-lines store's in-memory filter and summary took
# on the same sends.
#
#   bash scripts/bench-history.sh [DATABASE] [SENDS]
#
# A database that already holds SENDS sends is reused (the fill takes a minute or two).
# Built in release mode in its own target directory, so it never disturbs the debug builds.
set -euo pipefail
cd "$(dirname "$0")/.."
exec nice -n 10 cargo run --quiet --release --target-dir target/bench-history \
    -p msgops-history --example bench_history -- "$@"
