#!/usr/bin/env bash
# Rolling deploy: one host at a time, deploy/release.sh there (install, switch,
# in-place upgrade, health gate). A host that fails its gate is rolled back by
# release.sh and the rollout stops: the remaining hosts keep the old release.
#   bash deploy/rollout.sh --hosts a,b,c [--via 'ssh {host}'] [--remote-dir DIR] BUILD_DIR [release.sh options]
# --via: the command that runs a command on a host, {host} replaced (ssh by
# default; the build folder is copied there with rsync first). Anything else
# (e.g. a local wrapper per test host) is given the same folder path. Like ssh,
# it gets the remote command as one shell command line: every word of it is
# quoted for that shell, so options reach release.sh as given, never run.
set -euo pipefail
HOSTS=""
VIA="ssh {host}"
REMOTE_DIR=/opt/avalon/src
while [ $# -gt 0 ]; do
    case $1 in
        --hosts) HOSTS=$2; shift 2 ;;
        --via) VIA=$2; shift 2 ;;
        --remote-dir) REMOTE_DIR=$2; shift 2 ;;
        *) break ;;
    esac
done
BUILD=${1:?usage: rollout.sh --hosts a,b,c [--via CMD] BUILD_DIR [release.sh options]}
shift
[ -n "$HOSTS" ] || { echo "rollout: --hosts a,b,c" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
# One word for a POSIX shell: single quotes, each ' as '\''.
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
shell_line() { local w out=""; for w in "$@"; do out+="$(quote "$w") "; done; printf '%s' "${out% }"; }
IFS=, read -r -a list <<< "$HOSTS"
for host in "${list[@]}"; do
    # A "host" starting with - would reach ssh as an option (-oProxyCommand=…).
    case $host in -* | '') echo "rollout: '$host' is not a host name" >&2; exit 2 ;; esac
done
done_hosts=()
for host in "${list[@]}"; do
    via=${VIA//\{host\}/$host}
    echo "rollout: $host"
    if [ "$VIA" = "ssh {host}" ]; then
        rsync -a --protect-args "$BUILD/" "$host:$REMOTE_DIR/build/"
        rsync -a --protect-args "$HERE/" "$host:$REMOTE_DIR/deploy/"
        cmd=($via "$(shell_line bash "$REMOTE_DIR/deploy/release.sh" "$@" "$REMOTE_DIR/build")")
    else
        cmd=($via "$(shell_line bash "$HERE/release.sh" "$@" "$BUILD")")
    fi
    if ! "${cmd[@]}"; then
        echo "rollout: $host failed its health gate and was rolled back; stopping (done: ${done_hosts[*]:-none}; not touched: the rest)" >&2
        exit 1
    fi
    done_hosts+=("$host")
done
echo "rollout: ${done_hosts[*]} on the new release"
