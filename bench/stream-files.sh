#!/usr/bin/env bash
# A song streamed through the Subsonic API (wrk -> nginx -> avalon-fcgi, which
# answers X-Accel-Redirect; nginx then sends the file with sendfile) against
# nginx serving the same file as a plain static file, measured side by side.
# Prints requests/s of each and their ratio (target: >= 0.95).
#   bash bench/stream-files.sh [MB] [SECONDS]   (ROUNDS=3 pairs; AVALON_BIN=DIR: a build's bin dir, default the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
MB=${1:-4}
SECS=${2:-5}
ROUNDS=${ROUNDS:-3}
CONNS=4
BIN=${AVALON_BIN:-$(swift build --show-bin-path)}
bench_workdir streamfiles

# One song: the audio fixture with MB of noise after it (the scanner reads its frames; nginx sends it all).
mkdir -p "$W/music/a"
cp Tests/AvalonScanTests/Fixtures/silence.mp3 "$W/music/a/song.mp3"
head -c $((MB * 1024 * 1024)) /dev/urandom >> "$W/music/a/song.mp3"
chmod -R a+rX "$W/music"
"$BIN/avalon-scan" -d "sqlite:///$W/bench.sqlite" "$W/music" 2>/dev/null
printf 'bench:bench-pass\n' > "$W/users"
chmod 600 "$W/users"
SUBSONIC_USERS_FILE="$W/users" DATABASE_URL="sqlite:///$W/bench.sqlite" LOG_PATH="$W/avalon.log" "$BIN/avalon-fcgi" \
    --bind "unix:$W/avalon.sock" --socket-mode 0666 --workers 2 --pid-file "$W/avalon.pid" &
PORT=18095
bench_nginx $PORT \
    "location /rest/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }" \
    "location /avalon-internal-music/ { internal; alias $W/music/; disable_symlinks on from=\$document_root; sendfile on; tcp_nopush on; }" \
    "location /static/ { alias $W/music/; disable_symlinks on from=\$document_root; sendfile on; tcp_nopush on; }"
AUTH="u=bench&p=bench-pass&v=1.16.1&c=bench"
bench_wait_up "http://127.0.0.1:$PORT/rest/ping?$AUTH"
ID=$(curl -fs "http://127.0.0.1:$PORT/rest/search3?query=&songCount=1&f=json&$AUTH" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["subsonic-response"]["searchResult3"]["song"][0]["id"])')
STREAM="http://127.0.0.1:$PORT/rest/stream?id=$ID&$AUTH"
STATIC="http://127.0.0.1:$PORT/static/a/song.mp3"
cmp <(curl -fs "$STREAM") "$W/music/a/song.mp3"
cmp <(curl -fs "$STATIC") "$W/music/a/song.mp3"

measure() {  # url -> req/s
    wrk -t2 -c$CONNS -d${SECS}s "$1" | awk '/Requests\/sec/ {print $2}'
}
printf "%8s %12s %12s %8s\n" MB "stream r/s" "static r/s" ratio
ratios=()
for _ in $(seq 1 "$ROUNDS"); do
    s=$(measure "$STREAM")
    p=$(measure "$STATIC")
    r=$(awk -v a="$s" -v b="$p" 'BEGIN {printf "%.3f", a / b}')
    ratios+=("$r")
    printf "%8s %12s %12s %8s\n" "$MB" "$s" "$p" "$r"
done
echo "median ratio: $(printf "%s\n" "${ratios[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")"
