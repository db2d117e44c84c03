#!/usr/bin/env bash
# ThreadSanitizer over a worker's threads: avalon-fcgi built with
# -sanitize=thread serves requests (collection answers, deliberate errors that
# go to the Sentry thread, statsd timers for the flusher thread) while
# SIGUSR1 floods the signal thread and SIGHUP reloads; any race report fails.
# (die_after_fork=0: workers start threads after the fork, which TSan
# otherwise refuses; the master forks with only TSan's own thread running.)
#   bash bench/tsan.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
. bench/common.sh
avalon_require_swift
SECS=${1:-10}
swift build --sanitize=thread --scratch-path .build-tsan --product avalon-fcgi >/dev/null
swift build --product avalon-bench >/dev/null
BIN="$(swift build --sanitize=thread --scratch-path .build-tsan --show-bin-path)"
bench_workdir tsan
"$(swift build --show-bin-path)/avalon-bench" generate 20000 "sqlite:///$W/t.sqlite" >/dev/null
PORT=18095
bench_nginx $PORT "location /avalon/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/avalon.sock; }"
# Sentry: a port where nothing listens, so every event is a logged send failure.
TSAN_OPTIONS="halt_on_error=0 report_signal_unsafe=0 die_after_fork=0" DATABASE_URL="sqlite:///$W/t.sqlite" LOG_PATH="$W/avalon.log" \
    STATSD_HOST=127.0.0.1 STATSD_PORT=9 ADMIN_SECRET=tsan-secret SENTRY_DSN="http://k@127.0.0.1:9/1" \
    "$BIN/avalon-fcgi" --bind "unix:$W/avalon.sock" --socket-mode 0666 --workers 2 --pid-file "$W/avalon.pid" 2> "$W/tsan.log" &
bench_wait_up "http://127.0.0.1:$PORT/avalon/heartbeat"
master=$(cat "$W/avalon.pid")
end=$((SECONDS + SECS))
n=0
while [ $SECONDS -lt $end ]; do
    pids=()
    for path in "songs?limit=20" "debug/error?secret=tsan-secret" "albums?query=a" "health_check?max_level=2" "metrics?secret=tsan-secret"; do
        curl -s -o /dev/null -w "%{http_code}\n" "http://127.0.0.1:$PORT/avalon/$path" >> "$W/codes" &
        pids+=($!)
    done
    pkill -USR1 -P "$master" || true
    kill -USR1 "$master"
    n=$((n + 1))
    if [ $((n % 50)) -eq 0 ]; then kill -HUP "$master"; fi
    wait "${pids[@]}"
done
kill -TERM "$master"; wait "$master" || true
races=$(grep -c "WARNING: ThreadSanitizer" "$W/tsan.log" || true)
answers=$(sort "$W/codes" | uniq -c | awk '{printf "%s %s, ", $1, $2}')
errors=$(grep -c "Unhandled error" "$W/avalon.log" || true)
echo "$n rounds of 5 requests and signals; answers: ${answers%, }; errors logged and sent to Sentry: $errors; reloads: $(grep -c reloaded "$W/avalon.log" || true)"
echo "ThreadSanitizer reports: $races"
[ "$errors" -gt 0 ] || { echo "no request reached a worker: the run proves nothing" >&2; exit 1; }
[ "$races" -eq 0 ] || { grep -A30 "WARNING: ThreadSanitizer" "$W/tsan.log" | head -80; exit 1; }
