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

swift build -c release --product avalon-fcgi >/dev/null
swift build -c release --product avalon-bench >/dev/null
BIN=${AVALON_BIN:-$(swift build -c release --show-bin-path)}
cc -O2 -o "$W/hello" bench/hello.c -lfcgi

"$BIN/avalon-bench" generate "$TRACKS" "sqlite:///$W/bench.sqlite" >/dev/null
DATABASE_URL="sqlite:///$W/bench.sqlite" LOG_PATH="$W/avalon.log" "$BIN/avalon-fcgi" \
    --bind "unix:$W/avalon.sock" --socket-mode 0666 --workers $WORKERS --pid-file "$W/avalon.pid" &
spawn-fcgi -s "$W/hello.sock" -M 0666 -F $WORKERS -P "$W/hello.pid" -- "$W/hello" >/dev/null
PORT=18089
bench_nginx $PORT \
    "location /avalon/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }" \
    "location /hello { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/hello.sock; }"
bench_wait_up "http://127.0.0.1:$PORT/avalon/heartbeat"
ARTIST=$(curl -fs "http://127.0.0.1:$PORT/avalon/artists?limit=1&offset=100" | sed 's/.*"id": "\([^"]*\)".*/\1/')

measure() {  # url -> "req/s p99"
    wrk -t2 -c$CONNS -d${SECS}s --latency "$1" | awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} END {print r, p}'
}
# Each pair is measured ROUNDS times, alternating, and the median ratio is
# printed with its round: this machine is shared, and a single run swings 10%.
ROUNDS=${ROUNDS:-3}
printf "%-42s %10s %10s %12s %10s %8s %s\n" endpoint "avalon r/s" "p99" "baseline r/s" "p99" ratio "(all ratios)"
for path in "heartbeat" "songs?query=love&limit=50" "songs?artist_id=$ARTIST" "albums?order=name&limit=100"; do
    url="http://127.0.0.1:$PORT/avalon/$path"
    size=$(curl -fs "$url" | wc -c)
    rows=()
    for _ in $(seq 1 "$ROUNDS"); do
        read -r ar ap <<<"$(measure "$url")"
        read -r br bp <<<"$(measure "http://127.0.0.1:$PORT/hello?size=$size")"
        rows+=("$(awk -v a="$ar" -v b="$br" 'BEGIN {printf "%.3f", a / b}') $ar $ap $br $bp")
    done
    all=$(printf "%s\n" "${rows[@]}" | awk '{print $1}' | sort -n | paste -sd' ')
    read -r ratio ar ap br bp <<<"$(printf "%s\n" "${rows[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")"
    printf "%-42s %10s %10s %12s %10s %8.2f (%s)\n" "${path:0:42}" "$ar" "$ap" "$br" "$bp" "$ratio" "$all"
done
grep -m1 loaded "$W/avalon.log" || true
