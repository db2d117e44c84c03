#!/usr/bin/env bash
# Install what the tests need and run the whole suite. Tests that need nginx
# or PostgreSQL start their own on loopback and clean up; the suite must end
# with nothing of its own running, which the end of this script checks.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES $AVALON_RUN_PACKAGES $AVALON_TEST_PACKAGES
# Debian starts the packaged clusters where it can; the tests use their own.
# The answer writer's bounds where only its own checks stand: a release build.
swift build -c release --product avalon-bench >/dev/null
"$(swift build -c release --show-bin-path)/avalon-bench" check-render
swift build --build-tests
# Two Subsonic client libraries and a schema validator for SubsonicTests.
python3 -m venv .build/venv-subsonic
.build/venv-subsonic/bin/pip install -q py-sonic py-opensonic jsonschema

# Processes the suite left running, one per line (pid and command line). As
# root the suite runs in a PID namespace of its own, so every process in it but
# this shell is the suite's, however it detached (setsid, daemons), and the
# kernel ends them with the namespace. Otherwise: processes of this user that
# started after the suite and carry this run's AVALON_TEST_RUN or run from
# this checkout.
survivors() {
    local pids=(/proc/[0-9]*) p args stat
    for p in "${pids[@]}"; do
        p=${p#/proc/}
        case " $$ $BASHPID " in *" $p "*) continue ;; esac
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        stat=(${stat##*) })   # from the state on: [0] state, [19] start time
        [ "${stat[0]}" = Z ] && continue
        if [ "${AVALON_SUITE_NAMESPACE:-}" != 1 ]; then
            [ -O "/proc/$p" ] && [ "${stat[19]}" -ge "$SUITE_START" ] || continue
            tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "AVALON_TEST_RUN=$AVALON_TEST_RUN" ||
                { readlink "/proc/$p/cwd" "/proc/$p/exe" 2>/dev/null; tr '\0' '\n' < "/proc/$p/cmdline" 2>/dev/null; } |
                awk -v d="$PWD" '$0 == d || index($0, d "/") { f = 1 } END { exit !f }' ||
                continue
        fi
        args=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) || continue
        echo "$p $args"
    done
}

# Runs the suite, then fails when something of it outlives it (after a grace
# period for stops in flight).
suite() {
    local status=0 left
    swift test --skip-build || status=$?
    for _ in $(seq 1 50); do
        # Empty twice in a row: a look that races a process's start sees nothing.
        left=$(survivors)
        [ -z "$left" ] && { sleep 0.3; left=$(survivors); }
        [ -z "$left" ] && break
        sleep 0.2
    done
    if [ -n "$left" ]; then
        echo "test.sh: the suite left these processes running (a test must stop what it starts, by pid):" >&2
        echo "$left" >&2
        status=1
    fi
    return $status
}

export AVALON_TEST_RUN="run-$$-$RANDOM$RANDOM"
SUITE_START=$(stat=$(cat /proc/$$/stat); stat=(${stat##*) }); echo "${stat[19]}")
if [ "$(id -u)" -eq 0 ] && [ -z "${AVALON_SUITE_NAMESPACE:-}" ] && unshare --pid --fork --mount-proc true 2>/dev/null; then
    export AVALON_SUITE_NAMESPACE=1
    exec unshare --pid --fork --mount-proc bash -c "$(declare -f survivors suite); set -uo pipefail; suite"
fi
suite
