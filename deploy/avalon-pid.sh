# avalon_master_pid FILE [USER]: the one check before a script signals the pid a
# file names (sourced by stop.sh and release-lib.sh; package.sh inlines it into
# the maintainer scripts; POSIX sh, so avalonctl can embed it as is).
# Prints the pid when it is positive, alive (not a zombie), an avalon-fcgi
# (/proc/PID/exe, or argv[0] where exe cannot be read) and run by USER (when
# given); otherwise says why on stderr, prints nothing and fails. A missing file
# is quiet. Whoever can write the file could name -1, 0 or anyone's process.
avalon_master_pid() { avalon_pid_of "$1" avalon-fcgi "${2:-}"; }

# avalon_pid_of FILE PROGRAM [USER]: the same check for another program (nginx).
avalon_pid_of() {
    [ -f "$1" ] || return 1
    # Not through a link: whoever writes the folder could point it at a secret file.
    if [ -L "$1" ]; then
        echo "avalon: $1 is a symbolic link, not a pid file: signalling nothing" >&2
        return 1
    fi
    _avpid=$(head -c 64 "$1" 2>/dev/null | tr -d '[:space:]')
    case $_avpid in
        '' | *[!0-9]* | 0*)
            # Shown only as digits and a sign: the file is another account's text.
            echo "avalon: $1 holds '$(printf '%s' "$_avpid" | tr -cd '0-9-' | head -c 20)', not a process id: signalling nothing" >&2
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
    if [ "${_avexe##*/}" != "$2" ]; then
        echo "avalon: $1 names pid $_avpid, which is ${_avexe:-unknown}, not $2: signalling nothing" >&2
        return 1
    fi
    if [ -n "${3:-}" ]; then
        _avuid=$(awk '/^Uid:/ { print $2 }' "/proc/$_avpid/status" 2>/dev/null)
        if [ "$_avuid" != "$(id -u "$3" 2>/dev/null)" ]; then
            echo "avalon: $1 names pid $_avpid, a $2 of uid ${_avuid:-?}, not of $3: signalling nothing" >&2
            return 1
        fi
    fi
    echo "$_avpid"
}
