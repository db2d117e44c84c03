#!/usr/bin/env bash
# Install Avalon system-wide (Debian, as root): build release binaries into
# /usr/local, scan the demo collection into the default SQLite database, run
# avalon-fcgi under spawn-fcgi as www-data and the system nginx on
# 127.0.0.1:8080 with the page at /. Safe to re-run; deploy/stop.sh undoes it.
# (deploy/quickstart.sh is the rootless way to try Avalon.)
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh

RUN_DIR=/run/avalon
SOCKET=$RUN_DIR/avalon.sock
PIDFILE=$RUN_DIR/avalon.pid
LOG=/var/log/avalon/avalon.log
WEB_USER=www-data

avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES $AVALON_RUN_PACKAGES

echo "Building release binaries (a few minutes the first time)..."
STAMP=$(avalon_stamp_flags .)
for product in avalon-fcgi avalon-scan avalon-echo-config avalon-express; do
    swift build -c release $STAMP --product "$product" >/dev/null
done
BIN="$(swift build -c release $STAMP --show-bin-path)"
install -m 0755 "$BIN/avalon-fcgi" "$BIN/avalon-scan" "$BIN/avalon-echo-config" "$BIN/avalon-express" /usr/local/bin/
# The page and the FastCGI settings, where nginx and avalon-express find them.
install -d /usr/local/share/avalon/web /usr/local/share/avalon/nginx
install -m 0644 web/index.html web/app.js web/style.css /usr/local/share/avalon/web/
install -m 0644 nginx/avalon-fastcgi.conf /usr/local/share/avalon/nginx/

bash deploy/stop.sh --quiet || true

# The embedded default database (SQLite in the temp dir), with the demo songs.
DB_FILE="${TMPDIR:-/tmp}/avalon.sqlite"
avalon-scan -q deploy/demo-music
chown "$WEB_USER:$WEB_USER" "$DB_FILE"

mkdir -p "$RUN_DIR" "$(dirname "$LOG")"
chown "$WEB_USER:$WEB_USER" "$RUN_DIR" "$(dirname "$LOG")"
LOG_PATH="$LOG" spawn-fcgi -s "$SOCKET" -M 0660 -U "$WEB_USER" -G "$WEB_USER" -u "$WEB_USER" -g "$WEB_USER" \
    -P "$PIDFILE" -- /usr/local/bin/avalon-fcgi --workers "$(nproc)" >/dev/null

install -D -m 0644 nginx/avalon-fastcgi.conf /etc/nginx/snippets/avalon-fastcgi.conf
sed "s#unix:/run/avalon/avalon.sock#unix:$SOCKET#" nginx/avalon.conf > /etc/nginx/conf.d/avalon.conf
nginx -t -q
if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    nginx -s reload
else
    nginx
fi

for _ in $(seq 1 50); do
    curl -fsS http://127.0.0.1:8080/avalon/heartbeat >/dev/null 2>&1 && break
    sleep 0.2
done
echo
echo "Avalon is running (log: $LOG). The page: http://127.0.0.1:8080/  Try:"
for path in heartbeat version "songs?query=giving" "albums?order=name" "artists" "songs?artist=minor+threat&order=track"; do
    echo "  curl 'http://127.0.0.1:8080/avalon/$path'"
done
echo
curl -fsS 'http://127.0.0.1:8080/avalon/songs?query=giving'; echo
echo "Stop with: bash deploy/stop.sh"
