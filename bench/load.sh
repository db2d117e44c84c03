#!/usr/bin/env bash
# Load + index of a generated SQLite collection, as avalon-fcgi does before
# its workers fork: seconds, CPU seconds, resident memory after the load
# (steady) and at its peak while loading (/usr/bin/time -v), then the top-k
# query at that size (a search ordered by year, 10 rows) and, with STREAM=1,
# the unpaged song list through a real worker (bench/stream.sh).
#   bash bench/load.sh TRACKS [DATA_DIR [BIN_DIR ...]]
# DATA_DIR (default: .bench-load in the checkout, git-ignored) keeps the
# generated database between runs: 10M tracks take half an hour to write.
# ROUNDS=N loads N times per build (default 1).
# SNAPSHOT=1: each round loads from the database and writes a snapshot
# (SNAPSHOT_PATH's file), then loads from that snapshot (warm: in the page
# cache) and, with DROP_CACHES=1 (root), once more after dropping the caches.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_require_swift
TRACKS=${1:?usage: bench/load.sh TRACKS [DATA_DIR [BIN_DIR ...]]}
DATA=${2:-.bench-load}
shift $(( $# < 2 ? $# : 2 ))
if [ $# -eq 0 ]; then
    swift build -c release --product avalon-bench >/dev/null
    if [ "${STREAM:-0}" = 1 ]; then swift build -c release --product avalon-fcgi >/dev/null; fi
    set -- "$(swift build -c release --show-bin-path)"
fi
. bench/common.sh
bench_generated_db "$TRACKS" "$DATA" "$1"
OUT=$(mktemp -d /tmp/avalon-load-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
printf "%-40s %-9s %8s %8s %10s %10s %6s\n" build from "load s" "CPU s" "steady MB" "peak MB" "peak/steady"
row() {  # build, what it loaded from
    load=$(sed -n 's/^load+index: \([0-9.]*\) s; resident \([0-9]*\) MB.*/\1/p' "$OUT/out")
    steady=$(sed -n 's/^load+index: \([0-9.]*\) s; resident \([0-9]*\) MB.*/\2/p' "$OUT/out")
    peak=$(awk '/Maximum resident set size/ {printf "%.0f", $6 / 1024}' "$OUT/time")
    cpu=$(awk '/User time|System time/ {s += $4} END {printf "%.2f", s}' "$OUT/time")
    printf "%-40s %-9s %8s %8s %10s %10s %6.2f\n" "$1" "$2" "$load" "$cpu" "$steady" "$peak" "$(echo "$peak / $steady" | bc -l)"
}
for b in "$@"; do
    for _ in $(seq 1 "${ROUNDS:-1}"); do
        if [ "${SNAPSHOT:-0}" = 1 ]; then
            rm -rf "$OUT/snap"; mkdir -m 700 "$OUT/snap"
            export AVALON_BENCH_SNAPSHOT="$OUT/snap/collection"
        fi
        AVALON_BENCH_LOAD_ONLY=1 /usr/bin/time -v "$b/avalon-bench" load "sqlite:///$DB" > "$OUT/out" 2> "$OUT/time"
        row "$b" database
        if [ "${SNAPSHOT:-0}" = 1 ]; then
            grep '^snapshot written' "$OUT/out"
            AVALON_BENCH_LOAD_ONLY=1 /usr/bin/time -v "$b/avalon-bench" load "sqlite:///$DB" > "$OUT/out" 2> "$OUT/time"
            grep -q '^from the snapshot' "$OUT/out" || { cat "$OUT/out"; exit 1; }
            row "$b" snapshot
            if [ "${DROP_CACHES:-0}" = 1 ]; then
                sync; echo 3 > /proc/sys/vm/drop_caches
                AVALON_BENCH_LOAD_ONLY=1 /usr/bin/time -v "$b/avalon-bench" load "sqlite:///$DB" > "$OUT/out" 2> "$OUT/time"
                row "$b" "snap,cold"
            fi
            unset AVALON_BENCH_SNAPSHOT
        fi
    done
done
for b in "$@"; do
    echo "$b, top-k:"
    AVALON_BENCH_ONLY="query=the&order=year" "$b/avalon-bench" load "sqlite:///$DB" | grep '^songs?'
done
if [ "${STREAM:-0}" = 1 ]; then bash bench/stream.sh "sqlite:///$DB" "$@"; fi
