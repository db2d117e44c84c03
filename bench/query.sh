#!/usr/bin/env bash
# Time of one request with 64 KB of distinct query keys (what nginx lets
# through with large client headers) against 64 KB in one key and a small
# query, straight over FastCGI (cgi-fcgi) to a release avalon-fcgi: best of
# ROUNDS each. The keys' cost is the difference of the two 64 KB requests.
#   bash bench/query.sh [BIN_DIR ...]     (release build folders; default: this tree's)
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_require_swift
if [ $# -eq 0 ]; then
    swift build -c release --product avalon-fcgi >/dev/null
    swift build -c release --product avalon-bench >/dev/null
    set -- "$(swift build -c release --show-bin-path)"
fi
ROUNDS=${ROUNDS:-30}
W=$(mktemp -d /tmp/avalon-query-XXXXXX)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null; sleep 0.3; rm -rf "$W"' EXIT
"$1/avalon-bench" generate 1000 "sqlite:///$W/c.sqlite" >/dev/null
BIG=$(python3 -c 'print("&".join("key%d=%d" % (100000 + i, i) for i in range(4500)))')
ONE="key=$(head -c $(( ${#BIG} - 4 )) /dev/zero | tr '\0' x)"  # as many bytes, one key
best() {  # socket query -> best seconds of ROUNDS
    for _ in $(seq 1 "$ROUNDS"); do
        s=$(date +%s%N)
        REQUEST_METHOD=GET DOCUMENT_URI=/avalon/albums QUERY_STRING="$2" SERVER_PROTOCOL=HTTP/1.1 \
            cgi-fcgi -bind -connect "$1" >/dev/null
        echo $(( $(date +%s%N) - s ))
    done | sort -n | head -1 | awk '{printf "%.2f", $1 / 1e6}'
}
printf "%-32s %10s %16s %16s %24s\n" build "small (ms)" "64 KB, 1 key" "64 KB, 4500 keys" "cost of the keys (ms)"
for b in "$@"; do
    sock="$W/s$RANDOM.sock"
    DATABASE_URL="sqlite:///$W/c.sqlite" LOG_PATH="$W/avalon.log" "$b/avalon-fcgi" --bind "unix:$sock" --workers 1 \
        --pid-file "$W/$RANDOM.pid" &
    for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
    small=$(best "$sock" "limit=1")
    one=$(best "$sock" "$ONE&limit=1")
    big=$(best "$sock" "$BIG&limit=1")
    printf "%-32s %10s %16s %16s %24s\n" "$b" "$small" "$one" "$big" "$(echo "$big - $one" | bc)"
done
echo "query string: ${#BIG} bytes, 4500 distinct keys"
