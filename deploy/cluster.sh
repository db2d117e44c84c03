#!/usr/bin/env bash
# A test bed of Avalon past one machine, on loopback addresses only: a
# PostgreSQL primary and a streaming replica (pg_basebackup -R), three Avalon
# hosts (separate masters, FastCGI over TCP on 127.0.0.2-4:9001; h1 and h2 load
# from the replica and fall back to the primary, h3 loads from the primary), and
# the front nginx on 127.0.0.1:8088 (nginx/avalon-upstream.conf). Everything it
# starts, it stops by pid. PostgreSQL asks for a password (scram-sha-256), made
# at `up` and kept in DIR/pgpass (0600; clients find it through PGPASSFILE):
# other local users get no superuser. The Subsonic API is on, user `cluster`
# (password in DIR/subsonic-users, 0600); the front streams from the music folder.
#   bash deploy/cluster.sh up|down|status          (as root or a user of your own)
#   bash deploy/cluster.sh start|stop NAME         (one component: primary, replica, h1, h2, h3, front)
# Settings: AVALON_CLUSTER_DIR (/tmp/avalon-cluster), AVALON_BIN (release build),
# AVALON_CLUSTER_MUSIC (deploy/demo-music), AVALON_CLUSTER_PG_PORT (55432),
# AVALON_CLUSTER_REPLICA_PORT (the next), AVALON_CLUSTER_HOST_PORT (9001, on each
# host's address), AVALON_CLUSTER_FRONT_PORT (8088), AVALON_CLUSTER_RELOAD
# (RELOAD_INTERVAL, 1). Two test beds at once need their own DIR and ports.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DIR=${AVALON_CLUSTER_DIR:-/tmp/avalon-cluster}
PGP=${AVALON_CLUSTER_PG_PORT:-55432}
PGR=${AVALON_CLUSTER_REPLICA_PORT:-$((PGP + 1))}
HOST_PORT=${AVALON_CLUSTER_HOST_PORT:-9001}
FRONT_PORT=${AVALON_CLUSTER_FRONT_PORT:-8088}
export PGPASSFILE=$DIR/pgpass
# PostgreSQL's sockets and logs: the only folder of the test bed, with the data
# directories, that the postgres user may write (DIR and the pid files root
# signals stay the caller's).
PGDIR=$DIR/pg
. "$REPO/deploy/avalon-pid.sh"
RELOAD=${AVALON_CLUSTER_RELOAD:-1}
MUSIC=$(realpath -m "${AVALON_CLUSTER_MUSIC:-$REPO/deploy/demo-music}")
PGBIN=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -1)/bin
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)
PRIMARY_URL="postgresql://postgres@127.0.0.1:$PGP/avalon"
REPLICA_URL="postgresql://postgres@127.0.0.1:$PGR/avalon"
# libpq's multi-host form: the replica first, the primary when it does not answer.
STANDBY_URL="postgresql://postgres@127.0.0.1:$PGR,127.0.0.1:$PGP/avalon?target_session_attrs=prefer-standby&connect_timeout=2"
declare -A HOST_ADDR=([h1]=127.0.0.2:$HOST_PORT [h2]=127.0.0.3:$HOST_PORT [h3]=127.0.0.4:$HOST_PORT)
declare -A HOST_DB=([h1]=$STANDBY_URL [h2]=$STANDBY_URL [h3]=$PRIMARY_URL)

bin() {
    if [ -z "${AVALON_BIN:-}" ]; then
        swift build -c release --product avalon-fcgi >/dev/null
        swift build -c release --product avalon-scan >/dev/null
        AVALON_BIN=$(swift build -c release --show-bin-path)
    fi
    echo "$AVALON_BIN"
}

pid_of() {  # NAME -> pid of its master process, or nothing
    local f
    case $1 in
        primary|replica) f=$DIR/$1/postmaster.pid ;;
        front) f=$DIR/front/nginx.pid ;;
        *) f=$DIR/$1/avalon.pid ;;
    esac
    [ -f "$f" ] && head -1 "$f" 2>/dev/null
}

# A killed process whose parent has not reaped it yet (a zombie) is down.
alive() {
    local p
    p=$(pid_of "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && ! grep -q '^[0-9]* (.*) Z' "/proc/$p/stat" 2>/dev/null
}

pg_start() {  # NAME PORT
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$DIR/$1" -l "$PGDIR/$1.log" -w -t 60 \
        -o "-p $2 -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
}

start_host() {  # NAME
    local h=$1 b
    b=$(bin)
    mkdir -p "$DIR/$h"
    rm -f "$DIR/$h/avalon.pid"
    # FastCGI over TCP answers only the front (libfcgi refuses other peers):
    # whoever reached a host's port directly would pass nginx's allow/deny.
    # The Subsonic API's users (owner-only, made at `up`): streams go through the front.
    FCGI_WEB_SERVER_ADDRS=127.0.0.1 ADMIN_SECRET=$(cat "$DIR/admin-secret") SUBSONIC_USERS_FILE=$DIR/subsonic-users \
    DATABASE_URL=${HOST_DB[$h]} RELOAD_INTERVAL=$RELOAD LOG_PATH=$DIR/$h/avalon.log METRICS_PUBLIC=true \
        setsid "$b/avalon-fcgi" --bind "${HOST_ADDR[$h]}" --workers 2 --pid-file "$DIR/$h/avalon.pid" \
        </dev/null >>"$DIR/$h/stderr.log" 2>&1 &
    # Up once its pid file names a live process and its port accepts.
    local addr=${HOST_ADDR[$h]}
    for _ in $(seq 1 200); do
        alive "$h" && (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "cluster: $h did not start: $(tail -3 "$DIR/$h/stderr.log" "$DIR/$h/avalon.log" 2>/dev/null)" >&2
    return 1
}

start_front() {
    mkdir -p "$DIR/front/tmp"
    sed -e "s#include snippets/avalon-fastcgi.conf;#include $REPO/nginx/avalon-fastcgi.conf;#" \
        -e "s#include snippets/avalon-log.conf;#include $REPO/nginx/avalon-log.conf;#" \
        -e "s#include snippets/avalon-cache.conf;#include $REPO/nginx/avalon-cache.conf;#" \
        -e "s#/var/cache/nginx-avalon-upstream#$DIR/front/cache#" \
        -e "s#/var/lib/avalon/avalon.sqlite.covers/#$DIR/covers/#" \
        -e "s#include fastcgi_params;#include /etc/nginx/fastcgi_params;#" \
        -e "s#/var/log/nginx/avalon-upstream.access.log#$DIR/front/access.log#" \
        -e "s#listen 127.0.0.1:8088;#listen 127.0.0.1:$FRONT_PORT;#" \
        -e "s#\(server 127\.0\.0\.[0-9]*\):9001 #\1:$HOST_PORT #" \
        "$REPO/nginx/avalon-upstream.conf" > "$DIR/front/avalon-upstream.conf.tmp"
    # The front sends the hosts' streams itself, from the scanned folder (quoted;
    # refused where nginx reads a variable or the quote cannot hold it).
    case $MUSIC in *'$'*|*'"'*|*'\'*|*$'\n'*) echo "cluster: AVALON_CLUSTER_MUSIC has a \$, a quote, a backslash or a newline nginx cannot take: use another folder" >&2; return 1 ;; esac
    local conf alias="alias \"${MUSIC%/}/\";"
    conf=$(cat "$DIR/front/avalon-upstream.conf.tmp")
    # The replacement quoted: bash would read a & in it as the match.
    printf '%s\n' "${conf//alias \/srv\/music\/;/"$alias"}" > "$DIR/front/avalon-upstream.conf"
    rm -f "$DIR/front/avalon-upstream.conf.tmp"
    cat > "$DIR/front/nginx.conf" <<CONF
worker_processes 2;
pid $DIR/front/nginx.pid;
error_log $DIR/front/error.log;
events { worker_connections 1024; }
http {
    client_body_temp_path $DIR/front/tmp; fastcgi_temp_path $DIR/front/tmp; proxy_temp_path $DIR/front/tmp;
    uwsgi_temp_path $DIR/front/tmp; scgi_temp_path $DIR/front/tmp;
    include $DIR/front/avalon-upstream.conf;
}
CONF
    nginx -p "$DIR/front" -e "$DIR/front/error.log" -c "$DIR/front/nginx.conf"
}

stop_one() {  # NAME
    local p=""
    case $1 in
        # pg_ctl signals its postmaster: postmaster.pid is the postgres user's file.
        primary|replica) [ -d "$DIR/$1" ] && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$DIR/$1" -m fast -w stop >/dev/null 2>&1 || true
                         return 0 ;;
        front) p=$(avalon_pid_of "$DIR/front/nginx.pid" nginx "$(id -un)") || true
               [ -n "$p" ] && kill -QUIT "$p" 2>/dev/null || true ;;
        *) p=$(avalon_master_pid "$DIR/$1/avalon.pid" "$(id -un)") || true
           [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true ;;
    esac
    for _ in $(seq 1 100); do alive "$1" || return 0; sleep 0.1; done
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
}

# DIR holds the pid files that stop signals and the data directories pg_ctl
# acts on: it must be the caller's, and nobody else's to write.
check_dir() {
    [ -e "$DIR" ] || return 0
    if [ -L "$DIR" ] || [ ! -d "$DIR" ] || [ ! -O "$DIR" ] || [ -n "$(find "$DIR" -maxdepth 0 -perm /022)" ]; then
        echo "cluster: $DIR is not a folder of yours that only you can write: refusing to act on what it holds (remove it yourself, or set AVALON_CLUSTER_DIR)" >&2
        exit 1
    fi
}

up() {
    [ -e "$DIR" ] && { echo "cluster: $DIR exists; run down first" >&2; exit 1; }
    local b
    b=$(bin)
    # Not -p: a folder someone made meanwhile is an error, not ours to use.
    mkdir -m 0755 "$DIR"  # postgres and the front's nginx workers pass through it
    install -d -m 0700 "$PGDIR" "$DIR/primary" "$DIR/replica"
    [ ${#AS_PG[@]} -gt 0 ] && chown postgres "$PGDIR" "$DIR/primary" "$DIR/replica"
    # The superuser's password, made here: initdb reads it from a file, clients from pgpass.
    local password
    password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    (umask 077; printf '%s\n' "$password" > "$DIR/pg-password"; printf '*:*:*:postgres:%s\n' "$password" > "$PGPASSFILE")
    [ ${#AS_PG[@]} -gt 0 ] && chown postgres "$DIR/pg-password" "$PGPASSFILE"
    "${AS_PG[@]}" "$PGBIN/initdb" -D "$DIR/primary" -A scram-sha-256 --pwfile="$DIR/pg-password" -U postgres -E UTF8 --no-sync >/dev/null
    rm -f "$DIR/pg-password"
    # The hosts' admin secret (level-2 health checks, admin views), read from this file.
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$DIR/admin-secret")
    # One Subsonic user, its password made here (the hosts read the file; only its owner may).
    (umask 077; printf 'cluster:%s\n' "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')" > "$DIR/subsonic-users")
    cat >> "$DIR/primary/postgresql.conf" <<CONF
wal_level = replica
max_wal_senders = 5
hot_standby = on
fsync = off
CONF
    echo "host replication postgres 127.0.0.1/32 scram-sha-256" >> "$DIR/primary/pg_hba.conf"
    pg_start primary "$PGP"
    "${AS_PG[@]}" "$PGBIN/createdb" -h 127.0.0.1 -p "$PGP" -U postgres avalon
    "${AS_PG[@]}" "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PGP" -U postgres -D "$DIR/replica" -R -X stream -c fast >/dev/null
    pg_start replica "$PGR"
    COVER_CACHE="$DIR/covers" "$b/avalon-scan" -q -d "$PRIMARY_URL" "$MUSIC"
    # The replica has the scan once its generation is there.
    for _ in $(seq 1 100); do
        [ "$(psql -X -qtA "$REPLICA_URL" -c 'SELECT coalesce(max(generation), 0) FROM avalon_generations' 2>/dev/null)" = 1 ] && break
        sleep 0.1
    done
    for h in h1 h2 h3; do start_host "$h"; done
    start_front
    status
}

status() {
    local name addr
    for name in primary replica h1 h2 h3 front; do
        case $name in
            primary) addr=127.0.0.1:$PGP ;;
            replica) addr=127.0.0.1:$PGR ;;
            front) addr=127.0.0.1:$FRONT_PORT ;;
            *) addr=${HOST_ADDR[$name]} ;;
        esac
        if alive "$name"; then echo "$name $addr $(pid_of "$name") up"; else echo "$name $addr - down"; fi
    done
}

[ "${1:-}" = up ] || check_dir
case "${1:-}" in
    up) up ;;
    down)
        for name in front h1 h2 h3 replica primary; do stop_one "$name"; done
        rm -rf "$DIR" ;;
    status) status ;;
    start)
        case "${2:-}" in
            primary) pg_start primary "$PGP" ;;
            replica) pg_start replica "$PGR" ;;
            front) start_front ;;
            h1|h2|h3) start_host "$2" ;;
            *) echo "cluster: start primary|replica|h1|h2|h3|front" >&2; exit 2 ;;
        esac ;;
    stop) stop_one "${2:?name}" ;;
    *) echo "usage: $0 up|down|status|start NAME|stop NAME" >&2; exit 2 ;;
esac
