#!/usr/bin/env bash
# Install Avalon system-wide (Debian, as root): build release binaries into
# /usr/local, scan the demo collection into /var/lib/avalon/avalon.sqlite, run
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
DB_DIR=/var/lib/avalon
DATABASE_URL=sqlite:///$DB_DIR/avalon.sqlite

avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES $AVALON_RUN_PACKAGES

echo "Building release binaries (a few minutes the first time)..."
STAMP=$(avalon_stamp_flags .)
for product in avalon-fcgi avalon-scan avalon-echo-config avalon-express; do
    swift build -c release $STAMP --product "$product" >/dev/null
done
BIN="$(swift build -c release $STAMP --show-bin-path)"
install -m 0755 "$BIN/avalon-fcgi" "$BIN/avalon-scan" "$BIN/avalon-echo-config" "$BIN/avalon-express" /usr/local/bin/
# The page, the FastCGI and log settings and the demo collection, where nginx,
# avalon-express and the service user find them.
install -d /usr/local/share/avalon/web /usr/local/share/avalon/nginx
install -m 0644 web/index.html web/app.js web/player.js web/style.css /usr/local/share/avalon/web/
install -m 0644 nginx/avalon-fastcgi.conf nginx/avalon-log.conf nginx/avalon-cache.conf /usr/local/share/avalon/nginx/
rm -rf /usr/local/share/avalon/demo-music
cp -r deploy/demo-music /usr/local/share/avalon/demo-music
chmod -R u=rwX,go=rX /usr/local/share/avalon/demo-music

bash deploy/stop.sh --quiet || true

# The database in the service's own directory (never a shared temp dir, where
# another user could plant the file or a hot journal), scanned as the service.
install -d -o "$WEB_USER" -g "$WEB_USER" -m 0750 "$DB_DIR" "$(dirname "$LOG")"
runuser -u "$WEB_USER" -- env DATABASE_URL="$DATABASE_URL" avalon-scan -q /usr/local/share/avalon/demo-music

# The socket and pid file: spawn-fcgi (root) makes both before it drops to
# www-data, so the directory stays root's (deploy/stop.sh trusts the pid file).
install -d -o root -g "$WEB_USER" -m 0750 "$RUN_DIR"
DATABASE_URL="$DATABASE_URL" LOG_PATH="$LOG" spawn-fcgi -s "$SOCKET" -M 0660 -U "$WEB_USER" -G "$WEB_USER" -u "$WEB_USER" -g "$WEB_USER" \
    -P "$PIDFILE" -- /usr/local/bin/avalon-fcgi --workers "$(nproc)" >/dev/null

install -D -m 0644 nginx/avalon-fastcgi.conf /etc/nginx/snippets/avalon-fastcgi.conf
install -D -m 0644 nginx/avalon-log.conf /etc/nginx/snippets/avalon-log.conf
install -D -m 0644 nginx/avalon-cache.conf /etc/nginx/snippets/avalon-cache.conf
sed "s#unix:/run/avalon/avalon.sock#unix:$SOCKET#" nginx/avalon.conf > /etc/nginx/conf.d/avalon.conf
nginx -t -q
if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    nginx -s reload
else
    nginx
fi

# Done only when nginx answers both the API and the page.
ok=""
for _ in $(seq 1 50); do
    if curl -fsS --max-time 3 http://127.0.0.1:8080/avalon/heartbeat >/dev/null 2>&1 &&
        curl -fsS --max-time 3 http://127.0.0.1:8080/ 2>/dev/null | grep -q "<title>Avalon</title>"; then
        ok=1
        break
    fi
    sleep 0.2
done
if [ -z "$ok" ]; then
    echo "install-system: nginx on 127.0.0.1:8080 does not answer /avalon/heartbeat and the page:" \
        "see $LOG, /var/log/nginx/error.log and \`nginx -T\` (another site on port 8080?)" >&2
    exit 1
fi
echo
echo "Avalon is running (log: $LOG). The page: http://127.0.0.1:8080/  Try:"
for path in heartbeat version "songs?query=giving" "albums?order=name" "artists" "songs?artist=minor+threat&order=track"; do
    echo "  curl 'http://127.0.0.1:8080/avalon/$path'"
done
echo
curl -fsS 'http://127.0.0.1:8080/avalon/songs?query=giving'; echo
echo "Stop with: bash deploy/stop.sh"
