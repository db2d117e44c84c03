#!/usr/bin/env bash
# An unpaged song list from a real worker behind nginx: its bytes (sha256)
# and how much the worker's peak resident memory grew while sending it.
#   bash bench/stream.sh DB_URL [BIN_DIR ...]     (e.g. a 10M-track database)
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
. bench/common.sh
DB=$1
shift
[ $# -gt 0 ] || set -- "$(swift build -c release --show-bin-path)"
bench_workdir stream
PORT=18094
bench_nginx $PORT "location /avalon/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; fastcgi_read_timeout 600s; fastcgi_max_temp_file_size 0; }"
peak_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
printf "%-12s %14s %12s %10s  %s\n" build bytes "peak +MB" seconds sha256
for b in "$@"; do
    DATABASE_URL="$DB" LOG_PATH="$W/avalon.log" "$b/avalon-fcgi" --bind "unix:$W/avalon.sock" --socket-mode 0666 \
        --workers 1 --pid-file "$W/avalon.pid" &
    for _ in $(seq 1 1200); do curl -fs "http://127.0.0.1:$PORT/avalon/heartbeat" >/dev/null 2>&1 && break; sleep 0.25; done
    master=$(cat "$W/avalon.pid")
    worker=$(awk '{print $1}' "/proc/$master/task/$master/children")
    curl -fs "http://127.0.0.1:$PORT/avalon/songs?limit=10" >/dev/null
    before=$(peak_kb "$worker")
    t0=$(date +%s.%N)
    # The pipeline ends when sha256sum has read everything; curl reports the size on stderr.
    sum=$( (curl -fs -w '%{stderr}%{size_download}' "http://127.0.0.1:$PORT/avalon/songs" 2> "$W/bytes" \
        || echo "curl failed: the worker died?" >&2) | sha256sum | cut -c1-16)
    t1=$(date +%s.%N)
    bytes=$(tail -c 20 "$W/bytes" | tr -dc 0-9)
    after=$(peak_kb "$worker" 2>/dev/null || echo 0)
    printf "%-12s %14s %12.1f %10.1f  %s\n" "$(basename "$(dirname "$(dirname "$(dirname "$b")")")")" "$bytes" \
        "$(awk -v a="$after" -v b="$before" 'BEGIN {print (a - b) / 1024}')" "$(awk -v a="$t1" -v b="$t0" 'BEGIN {print a - b}')" "$sum"
    kill "$master"; wait "$master" 2>/dev/null || true
done
