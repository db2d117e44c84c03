#!/usr/bin/env bash
# Stop what deploy/install-system.sh started: avalon-fcgi and its nginx site.
set -uo pipefail
. "$(dirname "$0")/avalon-pid.sh"
PIDFILE=/run/avalon/avalon.pid
quiet=${1:-}
# spawn-fcgi (root) wrote the pid; only a live avalon-fcgi of www-data is signalled.
if pid=$(avalon_master_pid "$PIDFILE" www-data); then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    [ -z "$quiet" ] && echo "avalon-fcgi stopped"
fi
rm -f "$PIDFILE" /run/avalon/avalon.sock
if [ -f /etc/nginx/conf.d/avalon.conf ]; then
    rm -f /etc/nginx/conf.d/avalon.conf
    if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then nginx -s reload; fi
    [ -z "$quiet" ] && echo "nginx site removed"
fi
exit 0
