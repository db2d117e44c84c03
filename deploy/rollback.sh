#!/usr/bin/env bash
# Back one release: `current` to the release deployed before it (revisions.log),
# upgraded in place and gated like a deploy.
#   bash deploy/rollback.sh [--root DIR] [--url URL] [--pid-file F]
set -euo pipefail
. "$(dirname "$0")/release-lib.sh"
while [ $# -gt 0 ]; do
    case $1 in
        --root) ROOT=$2; shift 2 ;;
        --url) URL=$2; shift 2 ;;
        --pid-file) PIDFILE=$2; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
release_defaults
CUR=$(current_release) || die "no current release in $ROOT"
# The newest successful deploy before the current one that still exists.
PREV=$(awk -v cur="$CUR" '$3 == "deploy" || $3 == "rollback" {print $2}' "$ROOT/revisions.log" | grep -vx "$CUR" | tac |
       while read -r r; do [ -x "$ROOT/releases/$r/avalon-fcgi" ] && { echo "$r"; break; }; done)
[ -n "$PREV" ] || die "no earlier release to go back to"
deploy_to "$PREV" "$("$ROOT/releases/$PREV/avalon-fcgi" -V)" "rollback (from $CUR)"
