#!/usr/bin/env bash
# Throughput of a repeated collection query through the shipped nginx site
# (nginx/avalon.conf with its micro-cache, nginx/avalon-cache.conf) against the
# transport limit (the same server block -> a libfcgi responder returning a
# body of the same size from as many processes, uncached), one nginx worker
# for both. Prints req/s, p99 and the ratio (target: >= 2).
#   bash bench/cache.sh [TRACKS] [SECONDS]      (ROUNDS=3 pairs per query; AVALON_BIN=DIR: another release build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
. deploy/packages.sh
avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES $AVALON_RUN_PACKAGES wrk
TRACKS=${1:-100000}
SECS=${2:-5}
WORKERS=3
CONNS=8
. bench/common.sh
bench_workdir cache

swift build -c release --product avalon-fcgi >/dev/null
swift build -c release --product avalon-bench >/dev/null
BIN=${AVALON_BIN:-$(swift build -c release --show-bin-path)}
cc -O2 -o "$W/hello" bench/hello.c -lfcgi

"$BIN/avalon-bench" generate "$TRACKS" "sqlite:///$W/bench.sqlite" >/dev/null
DATABASE_URL="sqlite:///$W/bench.sqlite" LOG_PATH="$W/avalon.log" "$BIN/avalon-fcgi" \
    --bind "unix:$W/avalon.sock" --socket-mode 0666 --workers $WORKERS --pid-file "$W/avalon.pid" &
spawn-fcgi -s "$W/hello.sock" -M 0666 -F $WORKERS -P "$W/hello.pid" -- "$W/hello" >/dev/null

# The shipped site, its paths made the bench's own, and the limit's location in
# the same server block (the same access log, the same settings).
PORT=18090
sed -e "s#include snippets/avalon-\([a-z]*\).conf;#include $REPO/nginx/avalon-\1.conf;#" \
    -e "s#include fastcgi_params;#include /etc/nginx/fastcgi_params;#" \
    -e "s#/var/cache/nginx-avalon #$W/cache #" \
    -e "s#/var/log/nginx/avalon.access.log#$W/access.log#" \
    -e "s#unix:/run/avalon/avalon.sock#unix:$W/avalon.sock#" \
    -e "s#listen 127.0.0.1:8080;#listen 127.0.0.1:$PORT;#" \
    -e "s#^    location /avalon/ {#    location /hello { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/hello.sock; }\n&#" \
    nginx/avalon.conf > "$W/avalon.conf"
grep -q "location /hello" "$W/avalon.conf" && grep -q "$W/cache " "$W/avalon.conf" || { echo "bench/cache.sh: nginx/avalon.conf changed shape; adjust the edits" >&2; exit 1; }
cat > "$W/nginx.conf" <<CONF
worker_processes 1;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 1024; }
http {
    client_body_temp_path $W/tmp; fastcgi_temp_path $W/tmp; proxy_temp_path $W/tmp; uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
    include $W/avalon.conf;
}
CONF
nginx -p "$W" -c "$W/nginx.conf"
bench_wait_up "http://127.0.0.1:$PORT/avalon/heartbeat"
ARTIST=$(curl -fs "http://127.0.0.1:$PORT/avalon/artists?limit=1&offset=100" | sed 's/.*"id": "\([^"]*\)".*/\1/')

measure() {  # url -> "req/s p99"
    wrk -t2 -c$CONNS -d${SECS}s --latency "$1" | awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} END {print r, p}'
}
ROUNDS=${ROUNDS:-3}
printf "%-42s %7s %10s %10s %12s %10s %8s %s\n" "query (cached)" bytes "avalon r/s" "p99" "limit r/s" "p99" ratio "(all ratios)"
for path in "albums?order=name&limit=100" "songs?query=love&limit=50" "songs?artist_id=$ARTIST"; do
    url="http://127.0.0.1:$PORT/avalon/$path"
    size=$(curl -fs "$url" | wc -c)
    status=$(curl -fsI "$url" >/dev/null; curl -fs -o /dev/null -D - "$url" | awk -F': ' 'tolower($1) == "x-cache-status" {print $2}' | tr -d '\r')
    [ "$status" = HIT ] || { echo "bench/cache.sh: $path is not served from the cache (X-Cache-Status: $status)" >&2; exit 1; }
    rows=()
    for _ in $(seq 1 "$ROUNDS"); do
        read -r ar ap <<<"$(measure "$url")"
        read -r br bp <<<"$(measure "http://127.0.0.1:$PORT/hello?size=$size")"
        rows+=("$(awk -v a="$ar" -v b="$br" 'BEGIN {printf "%.3f", a / b}') $ar $ap $br $bp")
    done
    all=$(printf "%s\n" "${rows[@]}" | awk '{print $1}' | sort -n | paste -sd' ')
    read -r ratio ar ap br bp <<<"$(printf "%s\n" "${rows[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")"
    printf "%-42s %7s %10s %10s %12s %10s %8.2f (%s)\n" "${path:0:42}" "$size" "$ar" "$ap" "$br" "$bp" "$ratio" "$all"
done
# How many of the cached queries a worker answered (the access log's upstream
# time is "-" when nginx answered from its cache): about one per query and second.
awk '/"GET \/avalon\/(albums|songs)/ { n++; if ($(NF-1) != "-") w++ }
     END { printf "collection requests: %d, answered by a worker: %d (%.3f%%)\n", n, w, 100 * w / (n ? n : 1) }' "$W/access.log"
