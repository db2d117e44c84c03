#!/usr/bin/env bash
# Builds avalon_VERSION_ARCH.deb with dpkg-deb: avalon-fcgi, avalon-scan and
# avalon-express in /usr/bin (the Swift runtime linked in statically, so the
# package needs only Debian's libraries), the configuration as a conffile in
# /etc/avalon/avalon.toml, systemd units (socket-activated avalon.socket +
# avalon.service, avalon-scan-watch.service), the nginx settings in
# /etc/nginx/snippets/ and a site in /usr/share/avalon/nginx/ (enabled by you),
# the page and the demo collection in /usr/share/avalon. postinst makes the
# system user `avalon`; an upgrade moves a running server to the new binary in
# place (SIGUSR2).
#   bash deploy/package.sh [OUT_DIR] [VERSION]     (VERSION: the source's, e.g. 1.0.0)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
. deploy/packages.sh
avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES dpkg-dev
OUT=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
VERSION=${2:-$(sed -n 's/^public let avalonVersion = "\(.*\)"/\1/p' Sources/AvalonConfig/Version.swift)}
ARCH=$(dpkg --print-architecture)
STAMP=$(avalon_stamp_flags .)
# A build folder of its own: the runtime linked in changes every object.
SCRATCH=.build-package
for p in avalon-fcgi avalon-scan avalon-express avalon-echo-config; do
    swift build -c release --scratch-path "$SCRATCH" -Xswiftc -static-stdlib $STAMP --product "$p" >/dev/null
done
BIN=$(swift build -c release --scratch-path "$SCRATCH" -Xswiftc -static-stdlib --show-bin-path)

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/avalon
install -d "$R/DEBIAN" "$R/usr/bin" "$R/etc/avalon" "$R/etc/nginx/snippets" "$R/lib/systemd/system" \
    "$R/usr/share/avalon/web" "$R/usr/share/avalon/nginx" "$R/usr/share/doc/avalon"
for p in avalon-fcgi avalon-scan avalon-express; do
    install -m 0755 "$BIN/$p" "$R/usr/bin/$p"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$R/usr/bin/$p"
done
install -m 0644 web/index.html web/app.js web/player.js web/style.css "$R/usr/share/avalon/web/"
cp -r deploy/demo-music "$R/usr/share/avalon/demo-music"
find "$R/usr/share/avalon/demo-music" -type d -exec chmod 0755 {} + ; find "$R/usr/share/avalon/demo-music" -type f -exec chmod 0644 {} +
install -m 0644 nginx/avalon-fastcgi.conf nginx/avalon-log.conf nginx/avalon-cache.conf "$R/etc/nginx/snippets/"
# The cover cache: /var/lib/avalon is closed to nginx, so covers live in /var/cache/avalon/covers.
sed -e 's#/usr/local/share/avalon/web#/usr/share/avalon/web#' -e 's#/var/lib/avalon/avalon.sqlite.covers/#/var/cache/avalon/covers/#' \
    nginx/avalon.conf > "$R/usr/share/avalon/nginx/avalon.conf"
# avalon-express copies these into its server roots.
install -m 0644 nginx/avalon-fastcgi.conf nginx/avalon-log.conf nginx/avalon-cache.conf "$R/usr/share/avalon/nginx/"
chmod 0644 "$R/usr/share/avalon/nginx/avalon.conf"

# The default configuration, every setting commented, with the package's paths.
"$BIN/avalon-echo-config" | sed \
    -e "s#^DATABASE_URL = .*#DATABASE_URL = 'sqlite:////var/lib/avalon/avalon.sqlite'#" \
    -e "s@^# LOG_PATH = .*@LOG_PATH = '/var/log/avalon/avalon.log'@" \
    -e "s@^# COVER_CACHE = .*@COVER_CACHE = '/var/cache/avalon/covers'@" \
    -e "s@^# SNAPSHOT_PATH = .*@SNAPSHOT_PATH = '/var/lib/avalon/collection.snapshot'@" > "$R/etc/avalon/avalon.toml"
grep -q "^LOG_PATH" "$R/etc/avalon/avalon.toml" || echo "LOG_PATH = '/var/log/avalon/avalon.log'" >> "$R/etc/avalon/avalon.toml"
# Secrets go here: never world-readable (postinst gives it to group avalon).
chmod 0640 "$R/etc/avalon/avalon.toml"

sed -e 's#/usr/local/bin/#/usr/bin/#' -e 's#^User=www-data#User=avalon#' -e 's#^Group=www-data#Group=avalon#' \
    deploy/avalon.service > "$R/lib/systemd/system/avalon.service"
sed -e 's#^SocketUser=.*#SocketUser=avalon#' deploy/avalon.socket > "$R/lib/systemd/system/avalon.socket"
sed -e 's#/usr/local/bin/#/usr/bin/#' -e 's#^User=www-data#User=avalon#' -e 's#^Group=www-data#Group=avalon#' \
    deploy/avalon-scan-watch.service > "$R/lib/systemd/system/avalon-scan-watch.service"
chmod 0644 "$R"/lib/systemd/system/*

install -m 0644 deploy/debian/copyright "$R/usr/share/doc/avalon/copyright"
{
    echo "avalon ($VERSION) unstable; urgency=medium"
    echo
    echo "  * Release $VERSION (commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown))."
    echo
    echo " -- Avalon developers <maintainers@avalon-music.org>  $(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n > "$R/usr/share/doc/avalon/changelog.gz"
chmod 0644 "$R/usr/share/doc/avalon/changelog.gz"
# The maintainer scripts cannot source a file of the package: the pid check goes in.
for s in preinst postinst prerm postrm; do
    awk 'FNR == NR { check = check $0 "\n"; next } /^# @AVALON_PID_CHECK@/ { printf "%s", check; next } { print }' \
        deploy/avalon-pid.sh "deploy/debian/$s" > "$R/DEBIAN/$s"
    chmod 0755 "$R/DEBIAN/$s"
done
printf '%s\n' /etc/avalon/avalon.toml /etc/nginx/snippets/avalon-fastcgi.conf /etc/nginx/snippets/avalon-log.conf /etc/nginx/snippets/avalon-cache.conf > "$R/DEBIAN/conffiles"

# libfcgi's package name changed over Debian releases; the one this system has.
FCGI_PKG=$(dpkg -S "$(readlink -f "$(ldconfig -p | awk '/libfcgi.so.0/ {print $NF; exit}')")" 2>/dev/null | cut -d: -f1)
cat > "$R/DEBIAN/control" <<CONTROL
Package: avalon
Version: $VERSION
Architecture: $ARCH
Maintainer: Avalon developers <maintainers@avalon-music.org>
Installed-Size: $(du -sk --exclude=DEBIAN "$R" | cut -f1)
Depends: adduser, libc6, libgcc-s1, libstdc++6, ${FCGI_PKG:-libfcgi0ldbl}, libsqlite3-0, libpq5, libtag1v5, libcurl4, libssl3, zlib1g
Recommends: nginx | httpd
Suggests: postgresql
Section: sound
Priority: optional
Homepage: https://github.com/avalon-music/avalon-swift
Description: music collection metadata server (FastCGI, behind nginx)
 Avalon reads the tags of a music folder into SQLite or PostgreSQL
 (avalon-scan) and answers a read-only JSON API about songs, albums, artists
 and genres from a pool of pre-forked FastCGI workers (avalon-fcgi) behind
 nginx, with a web page to browse the collection. avalon-express runs the
 whole stack for one user without root.
CONTROL
(cd "$R" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$R/DEBIAN/control" "$R/DEBIAN/conffiles" "$R/DEBIAN/md5sums"
DEB="$OUT/avalon_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB" >/dev/null
echo "$DEB"
