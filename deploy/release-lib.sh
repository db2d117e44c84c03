# Shared by release.sh, rollback.sh: sourced, not run.
. "$(dirname "${BASH_SOURCE[0]}")/avalon-pid.sh"
die() { echo "release: $*" >&2; exit 2; }

release_defaults() {
    ROOT=${ROOT:-${AVALON_DEPLOY_ROOT:?set --root or AVALON_DEPLOY_ROOT}}
    URL=${URL:-${AVALON_HEALTH_URL:-http://127.0.0.1:8080/avalon}}
    PIDFILE=${PIDFILE:-${AVALON_PID_FILE:-$ROOT/shared/avalon.pid}}
    KEEP=${KEEP:-${AVALON_KEEP_RELEASES:-5}}
    TIMEOUT=${AVALON_DEPLOY_TIMEOUT:-60}
    SERVICE_USER=${AVALON_SERVICE_USER:-$(id -un)}
    mkdir -p "$ROOT/releases" "$ROOT/shared"
}

current_release() { [ -L "$ROOT/current" ] && basename "$(readlink "$ROOT/current")"; }
# The master the pid file names, when it is a live avalon-fcgi of ours (the file
# may sit where others write): a deploy signals nothing else.
master_pid() { avalon_master_pid "$PIDFILE" "$SERVICE_USER"; }

# switch NAME: `current` names it, in one rename.
switch() {
    ln -sfn "releases/$1" "$ROOT/current.new"
    mv -T "$ROOT/current.new" "$ROOT/current"
}

healthy() {  # VERSION: the pool answers level 1 and reports VERSION
    curl -fsS --max-time 3 "$URL/health_check?max_level=1" >/dev/null 2>&1 &&
        [ "$(curl -fsS --max-time 3 "$URL/version" 2>/dev/null)" = "$1" ]
}

# deploy_to NAME VERSION WHAT: switch, upgrade in place, gate on health and version.
deploy_to() {
    local name=$1 version=$2 what=$3 pid new
    switch "$name"
    pid=$(master_pid || true)
    if [ -n "$pid" ]; then
        kill -USR2 "$pid"
        for _ in $(seq 1 $((TIMEOUT * 5))); do
            new=$(master_pid 2>/dev/null || true)
            if [ -n "$new" ] && [ "$new" != "$pid" ] && healthy "$version"; then
                echo "$(date -u +%FT%TZ) $name $what (master $pid -> $new)" >> "$ROOT/revisions.log"
                echo "release: $name serves (master $new)"
                return 0
            fi
            sleep 0.2
        done
        # The new master never took over, or serves unhealthy: which one runs now decides.
        new=$(master_pid || true)
        echo "$(date -u +%FT%TZ) $name FAILED $what (master $pid, now ${new:-none})" >> "$ROOT/revisions.log"
        return 1
    fi
    echo "$(date -u +%FT%TZ) $name $what (no running master)" >> "$ROOT/revisions.log"
    echo "release: $name is current (no running master to upgrade)"
}

# Releases past the newest KEEP, but never current or the one a running master runs.
prune() {
    local running="" cur keep_list r
    cur=$(current_release || true)
    if pid=$(master_pid 2>/dev/null); then
        running=$(readlink "/proc/$pid/exe" 2>/dev/null | sed -n 's#.*/releases/\([^/]*\)/.*#\1#p')
    fi
    keep_list=$(ls -1t "$ROOT/releases" | head -n "$KEEP" | tr "\n" " ")
    for r in $(ls -1t "$ROOT/releases"); do
        case " $keep_list $cur $running " in *" $r "*) continue ;; esac
        rm -rf "${ROOT:?}/releases/$r"
        echo "$(date -u +%FT%TZ) $r pruned" >> "$ROOT/revisions.log"
    done
}
