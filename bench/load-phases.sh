#!/usr/bin/env bash
# Where a load's time goes, per phase, for builds compared in one sitting:
# each round loads DB_URL once per build, alternating (this host is shared and
# noisy), with AVALON_BENCH_PHASES=1; prints, per build, the minimum over the
# rounds of each phase's "its thread" CPU seconds (what the thread that ended
# the phase spent since its last phase: phases run side by side), of the load's
# wall seconds and process CPU seconds, and the largest peak resident size.
#   bash bench/load-phases.sh DB_URL ROUNDS BIN_DIR [BIN_DIR ...]
set -euo pipefail
url=${1:?usage: bench/load-phases.sh DB_URL ROUNDS BIN_DIR [BIN_DIR ...]}
rounds=${2:?usage: bench/load-phases.sh DB_URL ROUNDS BIN_DIR [BIN_DIR ...]}
shift 2
[ $# -gt 0 ] || { echo "usage: bench/load-phases.sh DB_URL ROUNDS BIN_DIR [BIN_DIR ...]" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
    for i in $(seq 1 $#); do
        bin=${!i}
        AVALON_BENCH_PHASES=1 AVALON_BENCH_LOAD_ONLY=1 /usr/bin/time -f 'cpu %U %S %M' \
            "$bin/avalon-bench" load "$url" >> "$out/$i" 2>&1
    done
done
for i in $(seq 1 $#); do
    echo "== ${!i}"
    python3 - "$out/$i" <<'PY'
import re, sys
phase, order, wall, cpu, peak = {}, [], [], [], 0
for line in open(sys.argv[1]):
    m = re.match(r'\s+(.+?)\s+ended at .*its thread\s+([\d.]+) s', line)
    if m:
        name, t = m.group(1), float(m.group(2))
        if name not in phase: order.append(name)
        phase[name] = min(phase.get(name, t), t)
    elif line.startswith('load+index:'):
        wall.append(float(line.split()[1]))
    elif line.startswith('cpu '):
        u, s, k = line.split()[1:4]
        cpu.append(float(u) + float(s)); peak = max(peak, int(k))
for name in order: print(f"  {name:<19} {phase[name]:6.2f}")
print(f"  wall min {min(wall):.2f} s  process CPU min {min(cpu):.2f} s  peak max {peak // 1024} MB")
PY
done
