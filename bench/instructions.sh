#!/usr/bin/env bash
# Instructions a worker executes per request inside Worker.serve (everything
# from the FastCGI parameters to the last byte handed to libfcgi), counted by
# callgrind: exact and repeatable on a shared machine, where timings swing.
# One worker behind nginx answers N1, then (in a new run) N2 requests of each
# URL; the difference of the totals over N2 - N1 is the cost of one request.
# PATHS: below /avalon/, or from rest/ a Subsonic request (signed in as a user
# of the bench; ALBUM in it is an album's id), e.g. PATHS='rest/getAlbum?id=ALBUM&f=json'.
#   bash bench/instructions.sh [BIN_DIR ...]     (release build folders)
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES $AVALON_RUN_PACKAGES valgrind
if [ $# -eq 0 ]; then
    swift build -c release --product avalon-fcgi >/dev/null
    swift build -c release --product avalon-bench >/dev/null
    set -- "$(swift build -c release --show-bin-path)"
fi
N1=${N1:-200}
N2=${N2:-1200}
. bench/common.sh
bench_workdir instr
# With file facts, as every scan records them (AVALON_BENCH_FILES=0: without).
if [ "${AVALON_BENCH_FILES:-1}" = 0 ]; then
    env -u AVALON_BENCH_FILES "$1/avalon-bench" generate 100000 "sqlite:///$W/bench.sqlite" >/dev/null
else
    AVALON_BENCH_FILES=1 "$1/avalon-bench" generate 100000 "sqlite:///$W/bench.sqlite" >/dev/null
fi
PORT=18091
bench_nginx $PORT "location /avalon/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; fastcgi_read_timeout 300s; }" \
    "location /rest/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; fastcgi_read_timeout 300s; }"
(umask 077; printf 'bench:bench-pass\n' > "$W/users")
# The 101st album's id, as the API writes it.
ALBUM=$(sqlite3 "$W/bench.sqlite" "SELECT lower(id) FROM albums ORDER BY id LIMIT 1 OFFSET 100" |
    sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/')

worker_total() {  # bin url count -> instructions of the worker
    local exe="$W/avalon-fcgi-$RANDOM"
    # valgrind cannot read the debug info swift writes; it needs none.
    cp "$1/avalon-fcgi" "$exe" && strip --strip-debug "$exe"
    rm -f "$W"/cg.*
    SUBSONIC_USERS_FILE="$W/users" DATABASE_URL="sqlite:///$W/bench.sqlite" LOG_PATH="$W/avalon.log" STATSD_HOST=localhost \
        valgrind -q --tool=callgrind --trace-children=yes --toggle-collect='*6Worker*serve*' --callgrind-out-file="$W/cg.%p" "$exe" \
        --bind "unix:$W/avalon.sock" --socket-mode 0666 --workers 1 --pid-file "$W/avalon.pid" &
    for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$PORT/avalon/heartbeat" >/dev/null 2>&1 && break; sleep 0.2; done
    seq 1 "$3" | xargs -P 2 -I{} curl -fs -o /dev/null "$2"
    kill "$(cat "$W/avalon.pid")"; wait 2>/dev/null || true
    local master
    master=$(ls "$W"/cg.* | sort -t. -k2 -n | head -1)
    # The worker's file: every one but the master's (one worker, forked once;
    # the master's helper children never serve, and add 0).
    for f in "$W"/cg.*; do [ "$f" = "$master" ] || grep -m1 '^summary:' "$f" | awk '{print $2}'; done | awk '{s += $1} END {print s + 0}'
}

printf "%-30s" endpoint; for b in "$@"; do printf " %14s" "$(basename "$(dirname "$(dirname "$(dirname "$b")")")")"; done; echo
for path in ${PATHS:-"heartbeat" "songs?query=love&limit=50" "albums?order=name&limit=100"}; do
    case "$path" in
        rest/*) url="http://127.0.0.1:$PORT/${path//ALBUM/$ALBUM}&u=bench&p=bench-pass&v=1.16.1&c=bench" ;;
        *) url="http://127.0.0.1:$PORT/avalon/$path" ;;
    esac
    printf "%-30s" "${path:0:30}"
    for b in "$@"; do
        a=$(worker_total "$b" "$url" "$N1")
        z=$(worker_total "$b" "$url" "$N2")
        printf " %14s" "$(( (z - a) / (N2 - N1) ))"
    done
    echo
done
