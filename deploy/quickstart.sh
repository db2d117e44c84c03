#!/usr/bin/env bash
# Try Avalon on the demo collection, as any user: installs the Debian packages
# it needs (the one step that needs root: sudo when you are not root), builds
# release binaries in this checkout, and runs avalon-express in the foreground:
# a scan into a SQLite file, avalon-fcgi and an unprivileged nginx, all inside
# a server root of yours, on http://127.0.0.1:8080/ (the page) and /avalon/
# (the API). Ctrl-C stops everything.
#   bash deploy/quickstart.sh [MUSIC_DIR] [avalon-express options, e.g. --port 8081]
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh

avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES nginx curl

echo "Building release binaries (a few minutes the first time)..."
STAMP=$(avalon_stamp_flags .)
for product in avalon-fcgi avalon-scan avalon-express; do
    swift build -c release $STAMP --product "$product" >/dev/null
done
BIN="$(swift build -c release $STAMP --show-bin-path)"

MUSIC=deploy/demo-music
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then MUSIC=$1; shift; fi
echo "Starting; then open the address it prints (the page), or try /avalon/songs?query=giving there."
exec "$BIN/avalon-express" start-server "$MUSIC" --reload-on-change "$@"
