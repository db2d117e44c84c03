#!/usr/bin/env bash
# CPU time a worker spends per request: one avalon-fcgi worker behind nginx,
# wrk for SECONDS per endpoint, user and system time of the worker from
# /proc/PID/stat divided by the requests it answered. Prints microseconds.
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
W=$(mktemp -d /tmp/avalon-cpu-XXXXXX)
chmod 755 "$W"
cleanup() {  # every step, whatever the one before did (set -e would stop at the first)
    set +e
    kill $(cat "$W"/avalon.pid 2>/dev/null) 2>/dev/null
    kill $(cat "$W"/nginx.pid 2>/dev/null) 2>/dev/null
    sleep 0.5
    rm -rf "$W"
}
trap cleanup EXIT
"$1/avalon-bench" generate "$TRACKS" "sqlite:///$W/bench.sqlite" >/dev/null
PORT=18090
mkdir -p "$W/tmp"
cat > "$W/nginx.conf" <<CONF
worker_processes 1;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $W/tmp; fastcgi_temp_path $W/tmp; proxy_temp_path $W/tmp; uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
    server {
        listen 127.0.0.1:$PORT;
        location /avalon/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }
    }
}
CONF
nginx -p "$W" -c "$W/nginx.conf"
ticks=$(getconf CLK_TCK)

measure() {  # bin url -> "µs-per-request requests"
    DATABASE_URL="sqlite:///$W/bench.sqlite" LOG_PATH="$W/avalon.log" STATSD_HOST=localhost "$1/avalon-fcgi" \
        --bind "unix:$W/avalon.sock" --socket-mode 0666 --workers 1 --pid-file "$W/avalon.pid" &
    for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$PORT/avalon/heartbeat" >/dev/null 2>&1 && break; sleep 0.1; done
    local master worker before after n
    master=$(cat "$W/avalon.pid")
    worker=$(cat "/proc/$master/task/$master/children" | awk '{print $1}')
    curl -fs "$2" >/dev/null
    before=$(awk '{print $14 + $15}' "/proc/$worker/stat")
    n=$(wrk -t1 -c4 -d"${SECS}s" "$2" | awk '/requests in/ {print $1}')
    after=$(awk '{print $14 + $15}' "/proc/$worker/stat")
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
