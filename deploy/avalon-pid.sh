# avalon_master_pid FILE [USER]: the one check before a script signals the pid a
# file names (sourced by stop.sh and release-lib.sh; package.sh inlines it into
# the maintainer scripts; POSIX sh, so avalonctl can embed it as is).
# Prints the pid when it is positive, alive (not a zombie), an avalon-fcgi
# (/proc/PID/exe, or argv[0] where exe cannot be read) and run by USER (when
# given); otherwise says why on stderr, prints nothing and fails. A missing file
# is quiet. Whoever can write the file could name -1, 0 or anyone's process.
avalon_master_pid() {
    [ -f "$1" ] || return 1
    _avpid=$(head -c 64 "$1" 2>/dev/null | tr -d '[:space:]')
    case $_avpid in
        '' | *[!0-9]* | 0*)
            echo "avalon: $1 holds '$_avpid', not a process id: signalling nothing" >&2
            return 1 ;;
    esac
    if [ "${#_avpid}" -gt 10 ] || [ ! -r "/proc/$_avpid/stat" ]; then
        echo "avalon: $1 names pid $_avpid, which is not running: signalling nothing" >&2
        return 1
    fi
    _avstat=$(cat "/proc/$_avpid/stat" 2>/dev/null)
    case ${_avstat##*) } in
        Z* | X*) echo "avalon: $1 names pid $_avpid, which has exited: signalling nothing" >&2; return 1 ;;
    esac
    _avexe=$(readlink "/proc/$_avpid/exe" 2>/dev/null) ||
        _avexe=$(tr '\0' '\n' < "/proc/$_avpid/cmdline" 2>/dev/null | head -n 1)
    _avexe=${_avexe% (deleted)}   # the binary an upgrade replaced
    case ${_avexe##*/} in
        avalon-fcgi) ;;
        *) echo "avalon: $1 names pid $_avpid, which is ${_avexe:-unknown}, not avalon-fcgi: signalling nothing" >&2; return 1 ;;
    esac
    if [ -n "${2:-}" ]; then
        _avuid=$(awk '/^Uid:/ { print $2 }' "/proc/$_avpid/status" 2>/dev/null)
        if [ "$_avuid" != "$(id -u "$2" 2>/dev/null)" ]; then
            echo "avalon: $1 names pid $_avpid, an avalon-fcgi of uid ${_avuid:-?}, not of $2: signalling nothing" >&2
            return 1
        fi
    fi
    echo "$_avpid"
}
