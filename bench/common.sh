# Sourced by the bench scripts: a work folder removed at exit with everything
# started in it, and nginx in front on a loopback port.

# bench_workdir NAME: sets W.
bench_workdir() {
    W=$(mktemp -d "/tmp/avalon-$1-XXXXXX")
    chmod 755 "$W"  # nginx's workers (nobody) reach the sockets inside
    mkdir -p "$W/tmp"
    trap bench_cleanup EXIT
}

# Every step, whatever the one before did (set -e would stop at the first).
bench_cleanup() {
    set +e
    kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null
    pkill -f "$W/"
    sleep 0.5
    rm -rf "$W"
}

# bench_nginx_http 'TEXT' …: nginx with this inside its http block (one worker, temp files in W).
bench_nginx_http() {
    cat > "$W/nginx.conf" <<CONF
worker_processes 1;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 1024; }
http {
    client_body_temp_path $W/tmp; fastcgi_temp_path $W/tmp; proxy_temp_path $W/tmp; uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
    $*
}
CONF
    nginx -p "$W" -c "$W/nginx.conf"
}

# bench_nginx PORT 'location … { … }' …: nginx on 127.0.0.1:PORT with these locations.
bench_nginx() {
    local port=$1
    shift
    bench_nginx_http "access_log off; server { listen 127.0.0.1:$port; $* }"
}

# bench_stack TRACKS WORKERS: release builds (BIN, or AVALON_BIN), TRACKS
# generated tracks in W, avalon-fcgi on W/avalon.sock and the libfcgi responder
# (bench/hello.c, the transport limit) on W/hello.sock, WORKERS processes each.
bench_stack() {
    # Another build's binaries are taken as they are: building this tree
    # meanwhile would load the machine the figures come from.
    if [ -z "${AVALON_BIN:-}" ]; then
        swift build -c release --product avalon-fcgi >/dev/null
        swift build -c release --product avalon-bench >/dev/null
    fi
    BIN=${AVALON_BIN:-$(swift build -c release --show-bin-path)}
    cc -O2 -o "$W/hello" bench/hello.c -lfcgi
    # With file facts, as every scan records them: Subsonic answers list them
    # (AVALON_BENCH_FILES=0: without, as the figures before session 9 were taken).
    if [ "${AVALON_BENCH_FILES:-1}" = 0 ]; then
        env -u AVALON_BENCH_FILES "$BIN/avalon-bench" generate "$1" "sqlite:///$W/bench.sqlite" >/dev/null
    else
        AVALON_BENCH_FILES=1 "$BIN/avalon-bench" generate "$1" "sqlite:///$W/bench.sqlite" >/dev/null
    fi
    # The Subsonic API on too (user bench, BENCH_AUTH's credentials): /avalon is the same either way.
    (umask 077; printf 'bench:bench-pass\n' > "$W/users")
    SUBSONIC_USERS_FILE="$W/users" DATABASE_URL="sqlite:///$W/bench.sqlite" LOG_PATH="$W/avalon.log" "$BIN/avalon-fcgi" \
        --bind "unix:$W/avalon.sock" --socket-mode 0666 --workers "$2" --pid-file "$W/avalon.pid" &
    spawn-fcgi -s "$W/hello.sock" -M 0666 -F "$2" -P "$W/hello.pid" -- "$W/hello" >/dev/null
}

# The Subsonic sign-in bench_stack's users file accepts, as URL parameters.
BENCH_AUTH="u=bench&p=bench-pass&v=1.16.1&c=bench"

# bench_front PORT: nginx on 127.0.0.1:PORT in front of bench_stack's two
# sockets (/avalon/ and /rest/ to avalon-fcgi, /hello to the limit), up.
bench_front() {
    bench_nginx "$1" \
        "location /avalon/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }" \
        "location /rest/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }" \
        "location /hello { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/hello.sock; }"
    bench_wait_up "http://127.0.0.1:$1/avalon/heartbeat"
}

# bench_ids PORT: ARTIST and ALBUM, an artist's and an album's ids from the
# stack on PORT (the 101st of each), for the endpoints below.
bench_ids() {
    ARTIST=$(curl -fs "http://127.0.0.1:$1/avalon/artists?limit=1&offset=100" | sed 's/.*"id": "\([^"]*\)".*/\1/')
    ALBUM=$(curl -fs "http://127.0.0.1:$1/avalon/albums?limit=1&offset=100" | sed 's/.*"id": "\([^"]*\)".*/\1/')
}

# bench_paths: the endpoints the throughput and CPU benches measure, one per
# line below the port (bench_ids first): five collection queries, the
# heartbeat and Subsonic's getAlbum (JSON, signed in with a password).
bench_paths() {
    for path in "heartbeat" "songs?query=love&limit=50" "songs?artist_id=$ARTIST" "albums?order=name&limit=100" \
        "songs?order=name&limit=20&offset=1000"; do
        echo "avalon/$path"
    done
    echo "rest/getAlbum?id=$ALBUM&f=json&$BENCH_AUTH"
}

# bench_check_answer PATH URL: a Subsonic error comes with HTTP 200; stop
# rather than measure it.
bench_check_answer() {
    case "$1" in
        rest/*) curl -fs "$2" | grep -q '"status": "ok"' || { echo "$1 failed: $(curl -fs "$2")" >&2; exit 1; } ;;
    esac
}

# bench_label PATH: how a bench_paths line is printed.
bench_label() {
    case "$1" in
        rest/getAlbum*) echo "rest/getAlbum?id=…&f=json (subsonic)" ;;
        *) echo "${1#avalon/}" | cut -c1-42 ;;
    esac
}

# bench_measure URL CONNS SECS: "req/s p99" from wrk.
bench_measure() {
    wrk -t2 -c"$2" -d"$3"s --latency "$1" | awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} END {print r, p}'
}

# bench_ratio NAME URL LIMIT_URL CONNS SECS: each side measured ROUNDS times
# (default 3), alternating; prints the median round's figures and its ratio,
# then every round's ratio: this machine is shared, and a single run swings 10%.
bench_ratio() {
    local rows=() ar ap br bp ratio all
    for _ in $(seq 1 "${ROUNDS:-3}"); do
        read -r ar ap <<<"$(bench_measure "$2" "$4" "$5")"
        read -r br bp <<<"$(bench_measure "$3" "$4" "$5")"
        rows+=("$(awk -v a="$ar" -v b="$br" 'BEGIN {printf "%.3f", a / b}') $ar $ap $br $bp")
    done
    all=$(printf "%s\n" "${rows[@]}" | awk '{print $1}' | sort -n | paste -sd' ')
    read -r ratio ar ap br bp <<<"$(printf "%s\n" "${rows[@]}" | sort -n | sed -n "$(( (${ROUNDS:-3} + 1) / 2 ))p")"
    printf "%-42s %10s %10s %12s %10s %8.2f (%s)\n" "${1:0:42}" "$ar" "$ap" "$br" "$bp" "$ratio" "$all"
}

# bench_ratio_header FIRST_COLUMN: the column names of bench_ratio's lines.
bench_ratio_header() {
    printf "%-42s %10s %10s %12s %10s %8s %s\n" "$1" "avalon r/s" "p99" "limit r/s" "p99" ratio "(all ratios)"
}

# bench_wait_up URL: until it answers (30 s at most).
bench_wait_up() {
    for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "no answer from $1" >&2
    return 1
}

# bench_generated_db TRACKS DATA_DIR BIN_DIR: sets DB, the generated SQLite
# collection of TRACKS in DATA_DIR, generating it once (10M: half an hour).
bench_generated_db() {
    mkdir -p "$2"
    DB="$(cd "$2" && pwd)/tracks-$1.sqlite"
    if [ ! -s "$DB" ]; then
        echo "generating $1 tracks into $DB (once)"
        rm -f "$DB.partial" "$DB.partial-journal"
        "$3/avalon-bench" generate "$1" "sqlite:///$DB.partial"
        mv "$DB.partial" "$DB"
    fi
}
