#!/usr/bin/env bash
# Past one machine, in figures: loading TRACKS tracks (default 1M) from SQLite,
# from the PostgreSQL primary and through the streaming replica (avalon-bench
# load, same run), then the throughput of deploy/cluster.sh's three hosts behind
# the front nginx against one host behind the same nginx settings (wrk, rounds
# alternated; all on this one machine, so the hosts share its cores).
#   bash bench/cluster.sh [TRACKS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
. bench/common.sh
N=${1:-1000000}
SECS=${2:-10}
for p in avalon-fcgi avalon-scan avalon-bench; do swift build -c release --product "$p" >/dev/null; done
export AVALON_BIN
AVALON_BIN=$(swift build -c release --show-bin-path)
bench_workdir cluster
export AVALON_CLUSTER_DIR=$W/bed AVALON_CLUSTER_PG_PORT=57432
trap 'bash deploy/cluster.sh down >/dev/null 2>&1; bench_cleanup' EXIT
bash deploy/cluster.sh up >/dev/null
PRIMARY="postgresql://postgres@127.0.0.1:57432/avalon"
REPLICA="postgresql://postgres@127.0.0.1:57433/avalon"

"$AVALON_BIN/avalon-bench" generate "$N" "$PRIMARY" >/dev/null
"$AVALON_BIN/avalon-bench" generate "$N" "sqlite:///$W/bench.sqlite" >/dev/null
want=$(psql -X -qtA "$PRIMARY" -c 'SELECT max(generation) FROM avalon_generations')
for _ in $(seq 1 600); do
    [ "$(psql -X -qtA "$REPLICA" -c 'SELECT max(generation) FROM avalon_generations')" = "$want" ] && break
    sleep 0.5
done
# The hosts reload the new generation by themselves (RELOAD_INTERVAL 1); the
# loads below are timed once they are done, not against them.
for _ in $(seq 1 240); do
    n=$(curl -fs 'http://127.0.0.1:8088/avalon/health_check?checks=collection' | grep -o '"songs": [0-9]*' | grep -o '[0-9]*$' || true)
    [ "$n" = "$N" ] && break
    sleep 0.5
done
echo "load of $N tracks (avalon-bench load: load + index; resident memory):"
for url in "sqlite:///$W/bench.sqlite" "$PRIMARY" "$REPLICA"; do
    printf "  %-50s %s\n" "$url" "$(AVALON_BENCH_LOAD_ONLY=1 "$AVALON_BIN/avalon-bench" load "$url" | tail -1)"
done

# One host behind the same front settings, on 127.0.0.1:8089.
mkdir -p "$W/one/tmp"
sed -e '/127.0.0.2:9001\|127.0.0.3:9001/d' -e 's/listen 127.0.0.1:8088;/listen 127.0.0.1:8089;/' -e 's/avalon_hosts/avalon_one/' \
    "$AVALON_CLUSTER_DIR/front/avalon-upstream.conf" > "$W/one/upstream.conf"
cat > "$W/one/nginx.conf" <<CONF
worker_processes 2; pid $W/one/nginx.pid; error_log $W/one/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $W/one/tmp; fastcgi_temp_path $W/one/tmp; proxy_temp_path $W/one/tmp;
       uwsgi_temp_path $W/one/tmp; scgi_temp_path $W/one/tmp; include $W/one/upstream.conf; }
CONF
nginx -p "$W/one" -e "$W/one/error.log" -c "$W/one/nginx.conf"
sed -i 's#access_log .*/access.log;#access_log off;#' "$AVALON_CLUSTER_DIR/front/nginx.conf"
nginx -p "$AVALON_CLUSTER_DIR/front" -e "$AVALON_CLUSTER_DIR/front/error.log" -c "$AVALON_CLUSTER_DIR/front/nginx.conf" -s reload
sleep 1
rate() { wrk -t2 -c16 -d"${SECS}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
echo "throughput, wrk -t2 -c16 -d${SECS}s, requests/s (three hosts / one host):"
for path in "avalon/songs?query=love&limit=50" "avalon/albums?order=name&limit=100"; do
    ratios=""
    for round in 1 2; do
        three=$(rate "http://127.0.0.1:8088/$path")
        one=$(rate "http://127.0.0.1:8089/$path")
        ratios="$ratios $(echo "scale=2; $three / $one" | bc) ($three / $one)"
    done
    printf "  %-40s %s\n" "$path" "$ratios"
done
