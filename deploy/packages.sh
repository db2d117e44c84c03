# Debian packages Avalon builds and runs with; sourced by the other scripts.
# Swift itself is not a Debian package: it must already be on PATH (/opt/swift here).
AVALON_BUILD_PACKAGES="libfcgi-dev libsqlite3-dev libpq-dev libtag1-dev libssl-dev libcurl4-openssl-dev pkg-config"
AVALON_RUN_PACKAGES="spawn-fcgi nginx sqlite3 curl"
AVALON_TEST_PACKAGES="postgresql wrk libfcgi-bin prometheus strace chromium chromium-driver lintian dpkg-dev python3-venv"

avalon_apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing: ${missing[*]}"
    # Installing packages is the only step that needs root.
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "installing Debian packages needs root: run as root, or install sudo" >&2; exit 1; }
        echo "(sudo: installing Debian packages needs root; nothing else does)"
        as_root=(sudo)
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

avalon_require_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        if [ -x /opt/swift/usr/bin/swift ]; then
            export PATH="/opt/swift/usr/bin:$PATH"
        else
            echo "swift is not on PATH: install the Swift toolchain (6.x) first" >&2
            exit 1
        fi
    fi
}

# The -Xcc flags that stamp the git commit and its date into a release build
# (`/versions`, `avalon_build_info`); nothing outside a git checkout.
avalon_stamp_flags() {
    local commit date
    commit=$(git -C "${1:-.}" rev-parse --short=12 HEAD 2>/dev/null) || return 0
    git -C "${1:-.}" diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
    date=$(git -C "${1:-.}" log -1 --format=%cI 2>/dev/null)
    echo "-Xcc -DAVALON_COMMIT=\"$commit\" -Xcc -DAVALON_BUILD_DATE=\"$date\""
}
