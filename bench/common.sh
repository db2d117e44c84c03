# Sourced by the bench scripts: a work folder removed at exit with everything
# started in it, and nginx in front on a loopback port.

# bench_workdir NAME: sets W.
bench_workdir() {
    W=$(mktemp -d "/tmp/avalon-$1-XXXXXX")
    chmod 755 "$W"  # nginx's workers (nobody) reach the sockets inside
    mkdir -p "$W/tmp"
    trap bench_cleanup EXIT
}

# Every step, whatever the one before did (set -e would stop at the first).
bench_cleanup() {
    set +e
    kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null
    pkill -f "$W/"
    sleep 0.5
    rm -rf "$W"
}

# bench_nginx PORT 'location … { … }' …: nginx on 127.0.0.1:PORT with these locations.
bench_nginx() {
    local port=$1
    shift
    cat > "$W/nginx.conf" <<CONF
worker_processes 1;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $W/tmp; fastcgi_temp_path $W/tmp; proxy_temp_path $W/tmp; uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
    server {
        listen 127.0.0.1:$port;
        $*
    }
}
CONF
    nginx -p "$W" -c "$W/nginx.conf"
}

# bench_wait_up URL: until it answers (30 s at most).
bench_wait_up() {
    for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "no answer from $1" >&2
    return 1
}
