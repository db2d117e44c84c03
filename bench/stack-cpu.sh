#!/usr/bin/env bash
# CPU time per request of the whole stack against the transport limit, the
# same endpoints as bench/http.sh: wrk -> nginx (one worker) -> one
# avalon-fcgi worker, then -> one libfcgi responder (bench/hello.c) sending a
# body of the same size. The CPU (user + system, /proc/PID/stat) of nginx's
# worker and of the FastCGI process over the requests wrk completed. On a
# shared machine other tenants move throughput by 10-20% between rounds;
# they move the CPU a request takes much less. Prints microseconds and the
# ratio limit/avalon (1.00: avalon costs what the transport costs; 0.90:
# avalon's requests take 11% more CPU), median of ROUNDS, rounds in brackets.
#   bash bench/stack-cpu.sh [TRACKS] [SECONDS]      (ROUNDS=3; AVALON_BIN=DIR: another release build)
set -euo pipefail
TRACKS=${1:-100000} SECS=${2:-4}
cd "$(dirname "$0")/.."
. deploy/packages.sh
. bench/common.sh
avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES $AVALON_RUN_PACKAGES wrk
bench_workdir stackcpu
bench_stack "$TRACKS" 1
PORT=18092
bench_front $PORT
bench_ids $PORT
master=$(cat "$W/avalon.pid")
# The worker: the master's child with a second thread (its helper children,
# such as a snapshot writer, have one).
avalon=
for p in $(cat "/proc/$master/task/$master/children"); do
    [ "$(ls "/proc/$p/task" 2>/dev/null | wc -l)" -gt 1 ] && avalon=$p && break
done
hello=$(cat "$W/hello.pid")
nginx_master=$(cat "$W/nginx.pid")
nginx=$(cat "/proc/$nginx_master/task/$nginx_master/children" | awk '{print $1}')
for pid in "$avalon" "$hello" "$nginx"; do [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || { echo "no process '$pid'" >&2; exit 1; }; done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure URL PID: "µs-per-request nginx-µs fastcgi-µs" over SECS of wrk;
# "failed" when a process went away or wrk completed nothing.
measure() {
    local n n0 f0 n1 f1
    n0=$(cpu "$nginx") && f0=$(cpu "$2") || { echo failed; return; }
    n=$(wrk -t1 -c4 -d"${SECS}s" "$1" | awk '/requests in/ {print $1}')
    n1=$(cpu "$nginx") && f1=$(cpu "$2") || { echo failed; return; }
    [ -n "$n" ] && [ "$n" -gt 0 ] || { echo failed; return; }
    awk -v n="$n" -v t="$ticks" -v x=$((n1 - n0)) -v y=$((f1 - f0)) \
        'BEGIN {printf "%.1f %.1f %.1f", (x + y) / t * 1e6 / n, x / t * 1e6 / n, y / t * 1e6 / n}'
}

printf "%-42s %22s %22s %8s %s\n" endpoint "avalon µs (nginx+fcgi)" "limit µs (nginx+fcgi)" ratio "(all ratios)"
while read -r path; do
    url="http://127.0.0.1:$PORT/$path"
    size=$(curl -fs "$url" | wc -c)
    bench_check_answer "$path" "$url"
    rows=()
    for _ in $(seq 1 "${ROUNDS:-3}"); do
        read -r a an af <<<"$(measure "$url" "$avalon")"
        read -r l ln lf <<<"$(measure "http://127.0.0.1:$PORT/hello?size=$size" "$hello")"
        [ "$a" != failed ] && [ "$l" != failed ] || { echo "$path: a process went away or answered nothing" >&2; exit 1; }
        rows+=("$(awk -v a="$a" -v l="$l" 'BEGIN {printf "%.3f", l / a}') $a $an $af $l $ln $lf")
    done
    all=$(printf "%s\n" "${rows[@]}" | awk '{print $1}' | sort -n | paste -sd' ')
    read -r ratio a an af l ln lf <<<"$(printf "%s\n" "${rows[@]}" | sort -n | sed -n "$(( (${ROUNDS:-3} + 1) / 2 ))p")"
    printf "%-42s %22s %22s %8.2f (%s)\n" "$(bench_label "$path")" "$a ($an+$af)" "$l ($ln+$lf)" "$ratio" "$all"
done < <(bench_paths)
