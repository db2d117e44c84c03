#!/usr/bin/env bash
# Throughput of the whole stack (wrk -> nginx -> avalon-fcgi) against the
# transport limit (wrk -> nginx -> a libfcgi responder returning a body of the
# same size from as many processes), measured in one run. Prints ratios.
#   bash bench/http.sh [TRACKS] [SECONDS]      (ROUNDS=3 pairs per endpoint; AVALON_BIN=DIR: another release build)
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES $AVALON_RUN_PACKAGES wrk
TRACKS=${1:-100000}
SECS=${2:-5}
WORKERS=3
CONNS=8
. bench/common.sh
bench_workdir bench

bench_stack "$TRACKS" $WORKERS
PORT=18089
bench_front $PORT
bench_ids $PORT

# Each pair is measured ROUNDS times, alternating, and the median ratio is
# printed with its round.
bench_ratio_header endpoint
while read -r path; do
    url="http://127.0.0.1:$PORT/$path"
    size=$(curl -fs "$url" | wc -c)
    bench_check_answer "$path" "$url"
    bench_ratio "$(bench_label "$path")" "$url" "http://127.0.0.1:$PORT/hello?size=$size" $CONNS "$SECS"
done < <(bench_paths)
grep -m1 loaded "$W/avalon.log" || true
