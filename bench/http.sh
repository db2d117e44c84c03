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
bench_nginx $PORT \
    "location /avalon/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }" \
    "location /rest/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }" \
    "location /hello { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/hello.sock; }"
bench_wait_up "http://127.0.0.1:$PORT/avalon/heartbeat"
ARTIST=$(curl -fs "http://127.0.0.1:$PORT/avalon/artists?limit=1&offset=100" | sed 's/.*"id": "\([^"]*\)".*/\1/')
ALBUM=$(curl -fs "http://127.0.0.1:$PORT/avalon/albums?limit=1&offset=100" | sed 's/.*"id": "\([^"]*\)".*/\1/')

# Each pair is measured ROUNDS times, alternating, and the median ratio is
# printed with its round.
bench_ratio_header endpoint
for path in "heartbeat" "songs?query=love&limit=50" "songs?artist_id=$ARTIST" "albums?order=name&limit=100" "songs?order=name&limit=20&offset=1000"; do
    url="http://127.0.0.1:$PORT/avalon/$path"
    size=$(curl -fs "$url" | wc -c)
    bench_ratio "$path" "$url" "http://127.0.0.1:$PORT/hello?size=$size" $CONNS "$SECS"
done
# Subsonic's getAlbum (JSON, signed in with a password): the same transport, the same limit.
url="http://127.0.0.1:$PORT/rest/getAlbum?id=$ALBUM&f=json&$BENCH_AUTH"
size=$(curl -fs "$url" | wc -c)
curl -fs "$url" | grep -q '"status": "ok"' || { echo "getAlbum failed: $(curl -fs "$url")" >&2; exit 1; }
bench_ratio "rest/getAlbum?id=…&f=json (subsonic)" "$url" "http://127.0.0.1:$PORT/hello?size=$size" $CONNS "$SECS"
grep -m1 loaded "$W/avalon.log" || true
