#!/usr/bin/env bash
# The cost of cover art in a scan: the same generated tree (make-music's
# albums of 12 files) scanned without covers and with them (even albums a
# cover.jpg, odd albums the picture embedded in each file, KB each, default
# 100), first scan and unchanged rescan, warm page cache. The unchanged
# rescan with covers runs under strace: it must open no audio file (nor any
# picture) in the tree. Files are small (make-music without a hole: an
# embedded picture makes TagLib rewrite the file).
#   bash bench/covers.sh [FILES]     (default 20000; KB=… for the picture size)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
N=${1:-20000}
KB=${KB:-100}
BIN=$(swift build -c release --show-bin-path)
swift build -c release --product avalon-scan >/dev/null
swift build -c release --product avalon-bench >/dev/null
bench_workdir covers
"$BIN/avalon-bench" make-music Tests/AvalonScanTests/Fixtures "$W/plain" "$N" >/dev/null
cp -a "$W/plain" "$W/covers"
"$BIN/avalon-bench" add-covers "$W/covers" "$KB"
# Files changed within the scanner's 2 s timestamp window are read again next time.
sleep 2.5
# Warm: what the scans read is in the page cache.
find "$W/plain" "$W/covers" -type f -exec cat {} + > /dev/null
# run LABEL TREE DB [strace args…]: one scan (avalon-scan's options in SCAN), its time and
# what it did; T_LABEL keeps the least time of the runs so labelled (the machine may be
# shared: each is run ROUNDS times).
run() {
    local label=$1 tree=$2 db=$3
    shift 3
    local t0 t1 out t var
    t0=$(date +%s.%N)
    out=$("$@" "$BIN/avalon-scan" ${SCAN:-} -d "sqlite:///$W/$db.sqlite" "$W/$tree" 2>&1 | grep '^avalon-scan:' | tail -1)
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc)
    printf "%-32s %6.2f s   %s\n" "$label" "$t" "$(echo "$out" | sed 's/^avalon-scan: //' | awk -F'; ' '{ print $1 "; " $(NF-1) }')"
    var="T_${label//[^a-z0-9]/_}"
    if [ -z "${!var:-}" ] || [ "$(echo "$t < ${!var}" | bc)" = 1 ]; then eval "$var=$t"; fi
}
ROUNDS=${ROUNDS:-3}
echo "$N files ($(( N / 12 + 1 )) albums) in $W; covers of $KB KB, half folder images, half embedded; $ROUNDS rounds, least times"
for round in $(seq "$ROUNDS"); do
    rm -rf "$W"/*.sqlite "$W"/*.sqlite.covers
    # Alternating which goes first.
    if [ $((round % 2)) = 1 ]; then run "first scan, no covers" plain plain; run "first scan, covers" covers covers
    else run "first scan, covers" covers covers; run "first scan, no covers" plain plain; fi
    # The same files with their pictures, read without them: what extracting and storing costs.
    SCAN=--no-covers run "first scan, pictures not read" covers off
    run "unchanged rescan, no covers" plain plain
    run "unchanged rescan, covers" covers covers
done
run "unchanged rescan (strace)" covers covers strace -f -e trace=open,openat,openat2 -o "$W/trace"
opened=$(grep -F "$W/covers/" "$W/trace" | grep -vc O_DIRECTORY || true)
echo "files opened in the tree by the unchanged rescan (not directories): $opened"
echo "cover cache: $(find "$W/covers.sqlite.covers" -type f | wc -l) pictures, $(du -sh "$W/covers.sqlite.covers" | cut -f1)"
echo "cover handling: first scan +$(echo "$T_first_scan__covers - $T_first_scan__no_covers" | bc) s" \
     "($(echo "scale=2; $T_first_scan__covers / $T_first_scan__no_covers" | bc)x)," \
     "unchanged rescan +$(echo "$T_unchanged_rescan__covers - $T_unchanged_rescan__no_covers" | bc) s" \
     "($(echo "scale=2; $T_unchanged_rescan__covers / $T_unchanged_rescan__no_covers" | bc)x);" \
     "extracting and storing alone (the same files read with --no-covers): +$(echo "$T_first_scan__covers - $T_first_scan__pictures_not_read" | bc) s"
[ "$opened" = 0 ]
