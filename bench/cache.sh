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

bench_stack "$TRACKS" $WORKERS

# The shipped site, its paths made the bench's own, and the limit's location in
# the same server block (the same access log, the same settings).
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')  # free now
sed -e "s#include snippets/avalon-\([a-z]*\).conf;#include $REPO/nginx/avalon-\1.conf;#" \
    -e "s#include fastcgi_params;#include /etc/nginx/fastcgi_params;#" \
    -e "s#/var/cache/nginx-avalon #$W/cache #" \
    -e "s#/var/log/nginx/avalon.access.log#$W/access.log#" \
    -e "s#unix:/run/avalon/avalon.sock#unix:$W/avalon.sock#" \
    -e "s#listen 127.0.0.1:8080;#listen 127.0.0.1:$PORT;#" \
    -e "s#^    location /avalon/ {#    location /hello { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/hello.sock; }\n&#" \
    nginx/avalon.conf > "$W/avalon.conf"
grep -q "location /hello" "$W/avalon.conf" && grep -q "$W/cache " "$W/avalon.conf" || { echo "bench/cache.sh: nginx/avalon.conf changed shape; adjust the edits" >&2; exit 1; }
bench_nginx_http "include $W/avalon.conf;"
bench_wait_up "http://127.0.0.1:$PORT/avalon/heartbeat"
ARTIST=$(curl -fs "http://127.0.0.1:$PORT/avalon/artists?limit=1&offset=100" | sed 's/.*"id": "\([^"]*\)".*/\1/')

bench_ratio_header "query (cached)"
for path in "albums?order=name&limit=100" "songs?query=love&limit=50" "songs?artist_id=$ARTIST"; do
    url="http://127.0.0.1:$PORT/avalon/$path"
    size=$(curl -fs "$url" | wc -c)
    status=$(curl -fs -o /dev/null -D - "$url" | awk -F': ' 'tolower($1) == "x-cache-status" {print $2}' | tr -d '\r')
    [ "$status" = HIT ] || { echo "bench/cache.sh: $path is not served from the cache (X-Cache-Status: $status)" >&2; exit 1; }
    bench_ratio "${path:0:32} ($size B)" "$url" "http://127.0.0.1:$PORT/hello?size=$size" $CONNS "$SECS"
done
# How many of the cached queries a worker answered (the access log's upstream
# time is "-" when nginx answered from its cache): about one per query and second.
awk '/"GET \/avalon\/(albums|songs)/ { n++; if ($(NF-1) != "-") w++ }
     END { printf "collection requests: %d, answered by a worker: %d (%.3f%%)\n", n, w, 100 * w / (n ? n : 1) }' "$W/access.log"
