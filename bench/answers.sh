#!/usr/bin/env bash
# Whether two release builds answer byte for byte the same: both serve one
# generated collection with file facts (3,000 tracks) behind nginx, and
# bench/answers.py compares ~2,700 Subsonic answers (every read method in
# JSON, XML, JSONP and .view, lists of every type, searches, errors) and a few
# /avalon ones. Only lastModified (the load time) is normalised.
#   bash bench/answers.sh OLD_BIN_DIR NEW_BIN_DIR
set -euo pipefail
OLD=$(cd "$1" && pwd) NEW=$(cd "$2" && pwd)
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_apt_install $AVALON_RUN_PACKAGES
. bench/common.sh
bench_workdir answers
AVALON_BENCH_FILES=1 "$OLD/avalon-bench" generate 3000 "sqlite:///$W/gen.sqlite" >/dev/null
(umask 077; printf 'bench:bench-pass\n' > "$W/users")
start() {  # BIN NAME
    SUBSONIC_USERS_FILE="$W/users" DATABASE_URL="sqlite:///$W/gen.sqlite" LOG_PATH="$W/$2.log" "$1/avalon-fcgi" \
        --bind "unix:$W/$2.sock" --socket-mode 0666 --workers 1 --pid-file "$W/$2.pid" &
}
start "$OLD" old
start "$NEW" new
PA=18391 PB=18392
bench_nginx_http "access_log off;
  server { listen 127.0.0.1:$PA; location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/old.sock; } }
  server { listen 127.0.0.1:$PB; location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/new.sock; } }"
bench_wait_up "http://127.0.0.1:$PA/avalon/heartbeat"
bench_wait_up "http://127.0.0.1:$PB/avalon/heartbeat"
python3 bench/answers.py "$PA" "$PB"
