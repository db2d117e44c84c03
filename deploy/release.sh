#!/usr/bin/env bash
# Capistrano-style releases for installs that do not use the package:
# ROOT/releases/NAME/ holds each release's programs, ROOT/current points at one,
# and avalon-fcgi runs as ROOT/current/avalon-fcgi. This installs a built
# release, switches `current` atomically (ln -s + mv -T), upgrades the running
# master in place (SIGUSR2: no request fails), and waits for
# health_check?max_level=1 and /version to show the new version; otherwise it
# switches back (and upgrades back, if the new master had taken over) and fails.
# Old releases are pruned to --keep, never the one a running master came from.
# ROOT/revisions.log records each deploy and rollback.
#   bash deploy/release.sh [--root DIR] [--url URL] [--pid-file F] [--keep N] [--name NAME] BUILD_DIR
# Defaults from the environment: AVALON_DEPLOY_ROOT, AVALON_HEALTH_URL (…/avalon),
# AVALON_PID_FILE (ROOT/shared/avalon.pid), AVALON_KEEP_RELEASES (5), AVALON_DEPLOY_TIMEOUT (60 s),
# AVALON_SERVICE_USER (the user the master runs as; only its avalon-fcgi is signalled; default: you).
set -euo pipefail
. "$(dirname "$0")/release-lib.sh"
NAME=""
while [ $# -gt 1 ]; do
    case $1 in
        --root) ROOT=$2; shift 2 ;;
        --url) URL=$2; shift 2 ;;
        --pid-file) PIDFILE=$2; shift 2 ;;
        --keep) KEEP=$2; shift 2 ;;
        --name) NAME=$2; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
BUILD=${1:?usage: release.sh [options] BUILD_DIR}
release_defaults
[ -x "$BUILD/avalon-fcgi" ] || die "$BUILD/avalon-fcgi is not a built avalon-fcgi"
VERSION=$("$BUILD/avalon-fcgi" -V)
if [ -z "$NAME" ]; then
    COMMIT=$(git -C "$(dirname "$0")/.." rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)
    NAME="$VERSION-$COMMIT"
fi
case $NAME in
    '' | .* | *[!A-Za-z0-9._+-]*) die "--name '$NAME': use letters, digits and . _ + - (it names a folder)" ;;
esac
mkdir -p "$ROOT/releases/$NAME"
for p in avalon-fcgi avalon-scan avalon-express avalon-echo-config; do
    [ -x "$BUILD/$p" ] && install -m 0755 "$BUILD/$p" "$ROOT/releases/$NAME/$p"
done
PREVIOUS=$(current_release || true)
[ "$PREVIOUS" = "$NAME" ] && { echo "release: $NAME is current already"; exit 0; }
deploy_to "$NAME" "$VERSION" "deploy" || {
    if [ -n "$PREVIOUS" ]; then
        echo "release: $NAME failed its health gate; back to $PREVIOUS" >&2
        deploy_to "$PREVIOUS" "$("$ROOT/releases/$PREVIOUS/avalon-fcgi" -V)" "rollback (failed gate of $NAME)" || true
    fi
    exit 1
}
prune
