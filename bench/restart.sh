#!/usr/bin/env bash
# A restart of avalon-fcgi with SNAPSHOT_PATH on a generated SQLite collection:
# seconds from starting it to its first answer (a heartbeat over FastCGI with
# cgi-fcgi; the socket exists before the load, requests wait in its backlog),
# the first start loading from the database (it writes the snapshot in a child
# meanwhile), then ROUNDS restarts reading the snapshot; with DROP_CACHES=1
# (root) one more after dropping the page cache. Also the master's resident MB.
#   bash bench/restart.sh TRACKS [DATA_DIR [BIN_DIR]]
# DATA_DIR as for bench/load.sh (the database is generated there once).
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_require_swift
TRACKS=${1:?usage: bench/restart.sh TRACKS [DATA_DIR [BIN_DIR]]}
DATA=${2:-.bench-load}
BIN=${3:-}
if [ -z "$BIN" ]; then
    swift build -c release --product avalon-fcgi >/dev/null
    swift build -c release --product avalon-bench >/dev/null
    BIN=$(swift build -c release --show-bin-path)
fi
. bench/common.sh
bench_generated_db "$TRACKS" "$DATA" "$BIN"
W=$(mktemp -d /tmp/avalon-restart-XXXXXX)
mkdir -m 700 "$W/snap"
trap 'kill $(cat "$W"/avalon.pid 2>/dev/null) 2>/dev/null; sleep 0.5; rm -rf "$W"' EXIT
start() {  # label: starts the server, prints seconds to the first answer
    local t0 t1 pid
    t0=$(date +%s%N)
    DATABASE_URL="sqlite:///$DB" SNAPSHOT_PATH="$W/snap/collection" LOG_PATH="$W/avalon.log" RELOAD_INTERVAL=0 \
        "$BIN/avalon-fcgi" --bind "unix:$W/avalon.sock" --workers 2 --pid-file "$W/avalon.pid" &
    for _ in $(seq 1 600); do [ -S "$W/avalon.sock" ] && break; sleep 0.01; done
    REQUEST_METHOD=GET DOCUMENT_URI=/avalon/heartbeat SERVER_PROTOCOL=HTTP/1.1 cgi-fcgi -bind -connect "$W/avalon.sock" >/dev/null
    t1=$(date +%s%N)
    pid=$(cat "$W/avalon.pid")
    printf "%-28s %8.2f s to the first answer; master %6.0f MB resident\n" "$1" "$(echo "($t1 - $t0) / 1000000000" | bc -l)" \
        "$(awk '/VmRSS/ {print $2 / 1024}' "/proc/$pid/status")"
}
stop() {
    local pid
    pid=$(cat "$W/avalon.pid")
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}
start "from the database"
for _ in $(seq 1 1200); do grep -q "snapshot written\|snapshot is not written" "$W/avalon.log" && break; sleep 0.5; done
grep -o "snapshot written.*\|the snapshot is not written.*" "$W/avalon.log"
stop
for r in $(seq 1 "${ROUNDS:-3}"); do
    start "from the snapshot ($r)"
    stop
done
if [ "${DROP_CACHES:-0}" = 1 ]; then
    sync; echo 3 > /proc/sys/vm/drop_caches
    start "from the snapshot, cold"
    stop
fi
grep -o "read the collection's indexes.*" "$W/avalon.log"
