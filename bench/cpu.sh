#!/usr/bin/env bash
# CPU time a worker spends per request: one avalon-fcgi worker behind nginx,
# wrk for SECONDS per endpoint, the worker's user time (CPU=user, the default)
# or user and system time (CPU=all) from /proc/PID/stat divided by the
# requests it answered. Prints microseconds.
#   bash bench/cpu.sh [TRACKS] [SECONDS] [BIN_DIR ...]
# With several BIN_DIRs (release build folders of different commits), the
# builds are measured in turn, ROUNDS times (default 3), on one database.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES $AVALON_RUN_PACKAGES wrk
TRACKS=${1:-100000}
SECS=${2:-5}
shift 2 || true
if [ $# -eq 0 ]; then
    swift build -c release --product avalon-fcgi >/dev/null
    swift build -c release --product avalon-bench >/dev/null
    set -- "$(swift build -c release --show-bin-path)"
fi
. bench/common.sh
bench_workdir cpu
"$1/avalon-bench" generate "$TRACKS" "sqlite:///$W/bench.sqlite" >/dev/null
PORT=18090
bench_nginx $PORT "location /avalon/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }"
ticks=$(getconf CLK_TCK)

measure() {  # bin url -> "µs-per-request requests"
    DATABASE_URL="sqlite:///$W/bench.sqlite" LOG_PATH="$W/avalon.log" STATSD_HOST=localhost "$1/avalon-fcgi" \
        --bind "unix:$W/avalon.sock" --socket-mode 0666 --workers 1 --pid-file "$W/avalon.pid" &
    bench_wait_up "http://127.0.0.1:$PORT/avalon/heartbeat"
    local master worker before after n
    master=$(cat "$W/avalon.pid")
    worker=$(cat "/proc/$master/task/$master/children" | awk '{print $1}')
    curl -fs "$2" >/dev/null
    local fields='$14 + $15'
    if [ "${CPU:-user}" = user ]; then fields='$14'; fi
    before=$(awk "{print $fields}" "/proc/$worker/stat")
    n=$(wrk -t1 -c4 -d"${SECS}s" "$2" | awk '/requests in/ {print $1}')
    after=$(awk "{print $fields}" "/proc/$worker/stat")
    kill "$master"; wait "$master" 2>/dev/null || true
    awk -v a="$after" -v b="$before" -v n="$n" -v t="$ticks" 'BEGIN {printf "%.2f %d", (a - b) / t * 1e6 / n, n}'
}

ROUNDS=${ROUNDS:-3}
printf "%-30s" endpoint; for b in "$@"; do printf " %24s" "$(basename "$(dirname "$(dirname "$(dirname "$b")")")")"; done; echo
for path in "songs?query=love&limit=50" "albums?order=name&limit=100" "heartbeat"; do
    url="http://127.0.0.1:$PORT/avalon/$path"
    declare -A all=()
    for _ in $(seq 1 "$ROUNDS"); do
        for b in "$@"; do
            read -r us _ <<<"$(measure "$b" "$url")"
            all[$b]="${all[$b]:-} $us"
        done
    done
    printf "%-30s" "${path:0:30}"
    for b in "$@"; do
        printf " %24s" "$(echo "${all[$b]}" | tr ' ' '\n' | sed '/^$/d' | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p") µs (${all[$b]# })"
    done
    echo
    unset all
done
