#!/usr/bin/env bash
# Scan times on a generated tree of real tagged audio files: a first scan, a
# --full rescan (every file read), an incremental rescan with nothing changed
# and with 1% of the files retagged; each with a warm page cache and with the
# cache dropped first (cold: what a library on a disk or a NAS meets; needs
# root for /proc/sys/vm/drop_caches). Albums of 12 files in folders of their
# own; each file is the size of real music (MB, default 4) through a hole where
# its audio would be, so that what a tag reader reads, its start and its end,
# lies as far apart on disk as in a real file while the tree takes little room.
#   bash bench/scan.sh [FILES] [DB_URL]     (defaults: 20000, a SQLite file; MB=0: tiny files)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
N=${1:-20000}
BIN=$(swift build -c release --show-bin-path)
swift build -c release --product avalon-scan >/dev/null
swift build -c release --product avalon-bench >/dev/null
bench_workdir scan
DB=${2:-sqlite:///$W/avalon.sqlite}
"$BIN/avalon-bench" make-music Tests/AvalonScanTests/Fixtures "$W/music" "$N" "${MB:-4}" >/dev/null
# Files changed within the scanner's 2 s timestamp window are read again next time.
sleep 2.5
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
can_drop=yes
drop 2>/dev/null || can_drop=no
# run LABEL CACHE ARGS…: one scan, its time and what it did.
run() {
    local label=$1 cache=$2
    shift 2
    if [ "$cache" = cold ]; then drop; fi
    local t0 t1 out
    t0=$(date +%s.%N)
    out=$("$BIN/avalon-scan" -d "$DB" "$@" "$W/music" 2>&1 | tail -1)
    t1=$(date +%s.%N)
    printf "%-18s %-5s %8.2f s   %s\n" "$label" "$cache" "$(echo "$t1 - $t0" | bc)" "$(echo "$out" | sed 's/^avalon-scan: //' | cut -d';' -f1,3-4)"
    eval "T_${label//[^a-z0-9]/_}_$cache=$(echo "$t1 - $t0" | bc)"
}
retag() {
    find "$W/music" -type f | sort | awk -v n="$N" -v seed="$1" 'BEGIN { srand(seed) } rand() < 0.01' | while read -r f; do
        "$BIN/avalon-bench" tag "$f" "Retagged $1" "Album $1" "Artist" "Genre" 1 2020
    done
    sleep 2.5
}
echo "$N files of ${MB:-4} MB in $W/music ($(du -sh "$W/music" | cut -f1) on disk); database $DB; drop_caches: $can_drop"
for cache in warm cold; do
    [ "$cache" = cold ] && [ $can_drop = no ] && break
    rm -f "$W/avalon.sqlite"
    # Warm: a scan into a scratch database first reads what scans read.
    [ "$cache" = warm ] && "$BIN/avalon-scan" -q -d "sqlite:///$W/scratch.sqlite" "$W/music"
    run "first scan" $cache
    run "full rescan" $cache --full
    run "unchanged rescan" $cache
    run "unchanged rescan" $cache
    retag $RANDOM
    run "1% changed" $cache
done
echo "full rescan / unchanged rescan: warm $(echo "scale=1; $T_full_rescan_warm / $T_unchanged_rescan_warm" | bc)x" \
     "${T_full_rescan_cold:+cold $(echo "scale=1; $T_full_rescan_cold / $T_unchanged_rescan_cold" | bc)x}"
