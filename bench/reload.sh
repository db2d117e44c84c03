#!/usr/bin/env bash
# Reloads and worker deaths under load: wrk -> nginx -> avalon-fcgi (3 workers)
# for SECONDS, with SIGHUP to the master every 3 s and SIGKILL of a random
# worker every second alongside. Prints requests, failures, reloads and kills,
# and nginx's errors if any. A request fails only in a worker killed while it
# was not idle (its request dies with it): more failures than such kills fail.
#   bash bench/reload.sh [SECONDS] [TRACKS]   (SEED=n repeats a run's kills; AVALON_BIN=DIR: another build;
#                                             KILLS=0: reloads only; EVERY=S: SIGHUP every S seconds, 3 by default;
#                                             URL_PATH=…: what wrk asks, albums?limit=10 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_require_swift
SECS=${1:-60}
TRACKS=${2:-10000}
SEED=${SEED:-$RANDOM}
KILLS=${KILLS:-1}
EVERY=${EVERY:-3}
RANDOM=$SEED
W=$(mktemp -d /tmp/avalon-reload-XXXXXX)
chmod 755 "$W"  # nginx's workers (nobody) reach the socket inside
mkdir -p "$W/tmp"
cleanup() {
    set +e
    for f in "$W/nginx.pid" "$W/avalon.pid"; do [ -s "$f" ] && kill "$(cat "$f")"; done
    sleep 0.5
    rm -rf "$W"
}
trap cleanup EXIT

if [ -z "${AVALON_BIN:-}" ]; then
    swift build -c release --product avalon-fcgi >/dev/null
    swift build -c release --product avalon-bench >/dev/null
fi
BIN=${AVALON_BIN:-$(swift build -c release --show-bin-path)}
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/avalon-bench" generate "$TRACKS" "sqlite:///$W/c.sqlite" >/dev/null
DATABASE_URL="sqlite:///$W/c.sqlite" LOG_PATH="$W/avalon.log" "$BIN/avalon-fcgi" \
    --bind "unix:$W/avalon.sock" --socket-mode 0666 --workers 3 --pid-file "$W/avalon.pid" &
. bench/common.sh  # bench_nginx (its workdir and cleanup are not used: this one stops by pid)
bench_nginx "$PORT" "location /avalon/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }"
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$PORT/avalon/heartbeat" >/dev/null 2>&1 && break; sleep 0.1; done
MASTER=$(cat "$W/avalon.pid")
curl -s -o /dev/null -w "first request: %{http_code}\n" "http://127.0.0.1:$PORT/avalon/albums?limit=10"

wrk -t2 -c8 -d"${SECS}s" "http://127.0.0.1:$PORT/avalon/${URL_PATH:-albums?limit=10}" > "$W/wrk.out" &
WRK=$!
reloads=0 kills=0 busy=0 start=$(date +%s.%N) next_reload=$EVERY
elapsed() { echo "$(date +%s.%N) - $start" | bc; }
last_kill=0
while kill -0 $WRK 2>/dev/null && [ "$(echo "$(elapsed) < $SECS - 2" | bc)" = 1 ]; do
    sleep 0.1
    if [ "$(echo "$(elapsed) >= $next_reload" | bc)" = 1 ]; then
        kill -HUP "$MASTER" && reloads=$((reloads + 1))
        next_reload=$(echo "$next_reload + $EVERY" | bc)
    fi
    if [ "$KILLS" != 0 ] && [ "$(echo "$(elapsed) >= $last_kill + 1" | bc)" = 1 ]; then
        last_kill=$(elapsed)
        # Its workers: children with a second thread (the master's helper children have one).
        workers=()
        for p in $(cat "/proc/$MASTER/task/$MASTER/children" 2>/dev/null); do
            [ "$(ls "/proc/$p/task" 2>/dev/null | wc -l)" -gt 1 ] && workers+=("$p")
        done
        if [ ${#workers[@]} -gt 0 ]; then
            victim=${workers[$((RANDOM % ${#workers[@]}))]}
            # Idle: in its own poll of two descriptors (socket and wake pipe).
            # Otherwise it may hold a request, which its death loses.
            read -r nr _ nfds _ 2>/dev/null < "/proc/$victim/syscall" || nr=
            if kill -KILL "$victim" 2>/dev/null; then
                kills=$((kills + 1))
                [ "$nr $nfds" = "7 0x2" ] || busy=$((busy + 1))
            fi
        fi
    fi
done
wait $WRK
requests=$(awk '/requests in/ {print $1}' "$W/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$W/wrk.out")
socket=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$W/wrk.out")
failed=$(( ${non2xx:-0} + ${socket:-0} ))
loaded=$(grep -c "reloaded generation" "$W/avalon.log" || true)
echo "requests $requests failed $failed reloads $reloads (done $loaded) worker kills $kills ($busy not idle: each may lose its request) seed $SEED"
# Workers that died of anything but the kills.
grep "died (" "$W/avalon.log" | grep -v "signal 9" | head -5 || true
grep -E "\[(ERROR|CRITICAL)\]" "$W/avalon.log" | grep -v "died (signal 9)" | head -5 || true
if [ "$failed" -gt 0 ] || grep -qE "\[(error|crit|alert)\]" "$W/error.log"; then
    grep -E "\[(error|crit|alert)\]" "$W/error.log" | sed -E 's/^[0-9\/]+ [0-9:]+ //; s/[0-9]+#[0-9]+: \*[0-9]+ //; s/, client:.*//' | sort | uniq -c | sort -rn | head -10
    cat "$W/wrk.out"
fi
[ "$failed" -le "$busy" ]
