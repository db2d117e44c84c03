import AvalonConfig
import AvalonScan
import AvalonStore
import Glibc

/// A private server root for avalon-express: configuration, sockets, logs,
/// the web page and nginx's pid and temp files, all in one directory that an
/// ordinary user owns. `setup-server` writes the same files for production.
public struct ServerRoot {
    public var dir: String
    public var host: String
    public var port: Int
    public var workers: Int
    public var database: DatabaseURL
    public var music: String
    /// Programs, as absolute paths.
    public var fcgi: String
    public var scan: String
    public var nginx: String
    /// avalon-express itself (avalonctl asks it whether nginx serves).
    public var express = executablePath()
    /// Where the shipped files come from: `web/` and the snippets in `nginx/`.
    public var share: String
    /// Seconds between the server's looks at the database's generation.
    public var reloadInterval: Double
    /// The Subsonic API's users (SUBSONIC_USERS_FILE); nil: the API is off.
    public var usersFile: String?

    public init(dir: String, host: String, port: Int, workers: Int, database: DatabaseURL?, music: String,
                fcgi: String, scan: String, nginx: String, share: String, reloadInterval: Double = 2) {
        self.dir = dir
        self.host = host
        self.port = port
        self.workers = workers
        self.database = database ?? .sqlite(path: dir + "/avalon.sqlite")
        self.music = music
        self.fcgi = fcgi
        self.scan = scan
        self.nginx = nginx
        self.share = share
        self.reloadInterval = reloadInterval
    }

    public var socket: String { dir + "/avalon.sock" }
    /// The scanner's cover cache: beside a SQLite database, in the root for PostgreSQL.
    public var coverCache: String {
        let inRoot = dir + "/covers"
        if case .postgres = database { return inRoot }
        return coverCacheFolder(for: database, setting: nil) ?? inRoot
    }
    public var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/" }

    /// Whether the files this root runs as: nginx's workers run as another
    /// user (nobody) when started by root, and must reach the socket.
    var asRoot: Bool { geteuid() == 0 }

    /// The URL as given, password and all: the file is the user's own (0600).
    var rawDatabaseURL: String {
        switch database {
        case .sqlite(let path): return "sqlite:///" + path
        case .postgres(let uri): return uri
        }
    }

    var avalonConfig: String {
        """
        # Written by avalon-express for this server root; AVALON_CONFIG points here.
        # Every setting: avalon-echo-config.
        DATABASE_URL = \(Config.tomlString(rawDatabaseURL))
        REQUEST_PATH = '/avalon'
        LOG_PATH = \(Config.tomlString(dir + "/logs/avalon.log"))
        # Looks at the database's generation this often: a rescan is served within seconds.
        RELOAD_INTERVAL = \(reloadInterval)
        COVER_CACHE = \(Config.tomlString(coverCache))
        # The built indexes, read back at the next start instead of rebuilt.
        SNAPSHOT_PATH = \(Config.tomlString(dir + "/collection.snapshot"))
        \(usersFile.map { "SUBSONIC_USERS_FILE = \(Config.tomlString($0))\nSUBSONIC_MUSIC_FOLDER = \(Config.tomlString(music))\n" } ?? "")
        """
    }

    var nginxConfig: String {
        let mime = access("/etc/nginx/mime.types", R_OK) == 0 ? "include /etc/nginx/mime.types;"
            : "types { text/html html; text/css css; application/javascript js; image/png png; }"
        func q(_ sub: String) -> String { nginxQuote(dir + sub) }
        return """
        # nginx for one Avalon server root, run by an ordinary user: every path it
        # writes is inside the server root. Written by avalon-express; yours to change.
        # Test it: nginx -t -p \(shellQuote(dir)) -c \(shellQuote(dir + "/nginx.conf"))
        worker_processes 1;
        pid \(q("/nginx.pid"));
        error_log \(q("/logs/nginx-error.log"));
        events { worker_connections 512; }
        http {
            \(mime)
            default_type application/octet-stream;
            include \(q("/avalon-log.conf"));
            access_log \(q("/logs/access.log")) avalon;
            client_body_temp_path \(q("/tmp/body"));
            fastcgi_temp_path \(q("/tmp/fastcgi"));
            proxy_temp_path \(q("/tmp/proxy"));
            uwsgi_temp_path \(q("/tmp/uwsgi"));
            scgi_temp_path \(q("/tmp/scgi"));
            # The micro-cache of the collection lists (avalon-cache.conf): 8 MB of
            # keys (~64,000 entries), at most 256 MB on disk, unused entries gone in a minute.
            fastcgi_cache_path \(q("/cache")) levels=1:2 keys_zone=avalon_cache:8m
                               max_size=256m inactive=1m use_temp_path=off;
            # Streamed answers (past about 2 MB, no Content-Length) are never stored.
            map $upstream_http_content_length $avalon_cache_streamed {
                volatile;
                ""      1;
                default 0;
            }
            # Failed Subsonic sign-ins per client address (see @avalon_signin_failed).
            limit_req_zone $binary_remote_addr zone=avalon_signin:1m rate=10r/m;
            server {
                listen \(host.contains(":") ? "[\(host)]" : host):\(port);
                server_name localhost;
                # The page, a set of static files.
                root \(q("/www"));
                index index.html;
                location / {
                    # It loads only its own files and this server's APIs (no style
                    # attributes, no inline script), sends no Referer, and is not sniffed.
                    add_header Content-Security-Policy "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'" always;
                    add_header Referrer-Policy no-referrer always;
                    add_header X-Content-Type-Options nosniff always;
                }
                gzip on;
                gzip_types application/json text/plain text/css application/javascript;
                gzip_min_length 1024;
                # The project's FastCGI settings (timeouts, buffers, connections); beside
                # this file (a relative include is read from nginx.conf's folder).
                include avalon-fastcgi.conf;
                location /avalon/ {
                    include /etc/nginx/fastcgi_params;
                    fastcgi_param HTTP_X_REQUEST_ID $avalon_request_id;
                    fastcgi_pass \(nginxQuote("unix:" + socket));
                }
                # The collection lists, the same for everyone: nginx answers a repeated
                # one itself to the end of the second, then revalidates it (a 304 from a worker).
                location ~ ^/avalon/(songs|albums|artists|genres|years)$ {
                    include /etc/nginx/fastcgi_params;
                    fastcgi_param HTTP_X_REQUEST_ID $avalon_request_id;
                    include avalon-cache.conf;
                    fastcgi_pass \(nginxQuote("unix:" + socket));
                }
                # ---- Subsonic API: on with avalon-express --users FILE.
                location /rest/ {
                    include /etc/nginx/fastcgi_params;
                    fastcgi_param AVALON_FAILED_SIGNIN @avalon_signin_failed;
                    fastcgi_pass \(nginxQuote("unix:" + socket));
                }
                # A failed sign-in (an error 200 to nginx) comes here from the worker:
                # after 6 in a row (then 1 per 6 s) an address gets 429. The worker locks out an
                # address past SUBSONIC_SIGNIN_FAILURES; AVALON_SIGNIN_COUNTED: counted already.
                location @avalon_signin_failed {
                    limit_req zone=avalon_signin burst=5 nodelay;
                    limit_req_status 429;
                    limit_req_log_level info;
                    include /etc/nginx/fastcgi_params;
                    fastcgi_param AVALON_SIGNIN_COUNTED 1;
                    fastcgi_pass \(nginxQuote("unix:" + socket));
                }
                # stream and download: the worker answers X-Accel-Redirect here and nginx
                # sends the file. Only the music folder; no symlink in it is followed.
                location /avalon-internal-music/ {
                    internal;
                    alias \(nginxQuote(music.hasSuffix("/") ? music : music + "/"));
                    disable_symlinks on from=$document_root;
                    # A missing file's error line would carry the request, credentials and all.
                    log_not_found off;
                    sendfile on;
                }
                # getCoverArt: pictures from the scanner's cover cache, nothing else.
                location /avalon-internal-covers/ {
                    internal;
                    alias \(nginxQuote(coverCache + "/"));
                    disable_symlinks on;
                    log_not_found off;
                    add_header X-Content-Type-Options nosniff always;
                    types { image/jpeg jpg; image/png png; image/gif gif; image/webp webp; }
                    default_type application/octet-stream;
                }
                # ---- end Subsonic API
            }
        }

        """
    }

    /// `avalonctl`, apachectl's way: one script for start, stop, restart,
    /// reload, configtest, status and scan.
    var controlScript: String {
        """
        #!/bin/sh
        # Controls the Avalon server in \(shellQuote(dir)): avalon-fcgi and its nginx.
        # Written by avalon-express setup-server.
        #   avalonctl start|stop|restart|reload|configtest|status|scan
        ROOT=\(shellQuote(dir))
        FCGI=\(shellQuote(fcgi))
        SCAN=\(shellQuote(scan))
        NGINX=\(shellQuote(nginx))
        EXPRESS=\(shellQuote(express))
        MUSIC=\(shellQuote(music))
        WORKERS=\(workers)
        export AVALON_CONFIG="$ROOT/avalon.toml"
        nginx_() { "$NGINX" -p "$ROOT" -e "$ROOT/logs/nginx-error.log" -c "$ROOT/nginx.conf" "$@"; }

        # The pid in pid file $1 when it is a running $2 (a program's path) of this
        # user; otherwise nothing, and a pid file that names something else is
        # reported, never signalled (a number such as -1 there must not reach kill).
        pid_of() {
            [ -f "$1" ] || return 1
            pid=$(cat "$1" 2>/dev/null)
            case "$pid" in '') return 1 ;; *[!0-9]*|0*) echo "$1 holds '$pid', not a pid: signalling nothing" >&2; return 1 ;; esac
            [ -d "/proc/$pid" ] || return 1
            want=$(readlink -f "$2")
            exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
            uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
            if { [ "$exe" != "$want" ] && [ "$exe" != "$want (deleted)" ]; } || [ "$uid" != "$(id -u)" ]; then
                echo "$1 names pid $pid, which is not $2 of $(id -un): signalling nothing" >&2
                return 1
            fi
            echo "$pid"
        }
        fcgi_pid() { pid_of "$ROOT/avalon.pid" "$FCGI"; }
        nginx_pid() { pid_of "$ROOT/nginx.pid" "$NGINX"; }
        wait_gone() { for _ in $(seq 1 100); do [ -d "/proc/$1" ] || return 0; sleep 0.1; done; return 1; }

        start() {
            if pid=$(fcgi_pid); then
                echo "avalon-fcgi is running already (pid $pid)"
            else
                rm -f "$ROOT/avalon.sock"
                setsid "$FCGI" --bind "unix:$ROOT/avalon.sock" --socket-mode 0600 --workers "$WORKERS" \\
                    --pid-file "$ROOT/avalon.pid" </dev/null >>"$ROOT/logs/avalon-stderr.log" 2>&1 &
                for _ in $(seq 1 600); do [ -S "$ROOT/avalon.sock" ] && break; sleep 0.1; done
                # As root: the socket is nginx's workers' (nobody), no other user's.
                [ "$(id -u)" -ne 0 ] || [ ! -S "$ROOT/avalon.sock" ] || chown nobody "$ROOT/avalon.sock"
                if [ ! -S "$ROOT/avalon.sock" ]; then
                    echo "avalon-fcgi did not start; see $ROOT/logs/avalon.log and $ROOT/logs/avalon-stderr.log" >&2
                    tail -n 5 "$ROOT/logs/avalon-stderr.log" >&2
                    return 1
                fi
            fi
            if nginx_pid >/dev/null; then echo "nginx is running already"; else nginx_ || { stop >/dev/null; return 1; }; fi
            # The addresses only once nginx answers for both: its workers may not reach this folder.
            if ! "$EXPRESS" check-server --server-root "$ROOT" --host \(shellQuote(host)) --port \(port); then
                stop >/dev/null
                return 1
            fi
            echo "Avalon serves \(url)"
        }

        stop() {
            if pid=$(nginx_pid); then kill -QUIT "$pid"; wait_gone "$pid"; fi
            if pid=$(fcgi_pid); then kill -TERM "$pid"; wait_gone "$pid"; fi
            echo "stopped"
        }

        case "$1" in
            start) start ;;
            stop) stop ;;
            restart) stop && start ;;
            reload)
                # New collection and workers without a failed request; nginx re-reads its file.
                if pid=$(fcgi_pid); then kill -HUP "$pid"; fi
                if pid=$(nginx_pid); then kill -HUP "$pid"; fi
                echo "reloaded" ;;
            configtest) nginx_ -t ;;
            status)
                up=0
                if pid=$(fcgi_pid); then echo "avalon up (pid $pid)"; up=$((up + 1)); else echo "avalon down"; fi
                if pid=$(nginx_pid); then echo "nginx up (pid $pid)"; up=$((up + 1)); else echo "nginx down"; fi
                [ $up -eq 2 ] ;;
            scan) "$SCAN" "$MUSIC" ;;
            *) echo "usage: $0 start|stop|restart|reload|configtest|status|scan" >&2; exit 2 ;;
        esac

        """
    }

    /// systemd units over `avalonctl`, and the scanner's watcher.
    var units: [(name: String, text: String)] {
        [("avalon-express.service", """
          [Unit]
          Description=Avalon music server in \(systemdText(dir)) (avalon-fcgi + nginx)
          After=network.target

          [Service]
          Type=forking
          User=\(currentUser)
          PIDFile=\(systemdText(dir + "/avalon.pid"))
          ExecStart=\(systemdCommand(dir + "/avalonctl", ["start"]))
          ExecStop=\(systemdCommand(dir + "/avalonctl", ["stop"]))
          ExecReload=\(systemdCommand(dir + "/avalonctl", ["reload"]))

          [Install]
          WantedBy=multi-user.target

          """),
         ("avalon-express-scan.service", """
          [Unit]
          Description=Avalon scanner watching \(systemdText(music))
          After=avalon-express.service

          [Service]
          User=\(currentUser)
          Environment=\(systemdAssignment("AVALON_CONFIG", dir + "/avalon.toml"))
          ExecStart=\(systemdCommand(scan, ["--watch", "--settle", "5", music]))
          Restart=on-failure

          [Install]
          WantedBy=multi-user.target

          """)]
    }

    var currentUser: String { getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "\(geteuid())" }

    /// Writes the configuration, the FastCGI settings and the page (and with
    /// `production`, avalonctl and the units).
    public func write(production: Bool) throws {
        for sub in ["", "/logs", "/tmp", "/www"] { try makeDirectory(dir + sub) }
        // nginx's workers (nobody, when root starts it) must reach the page, the
        // socket and their temp folders (which the master makes inside tmp/).
        if asRoot { for sub in ["", "/www", "/tmp"] { try setMode(dir + sub, 0o755) } }
        try writeFile(dir + "/avalon.toml", avalonConfig, mode: 0o600)
        try writeFile(dir + "/nginx.conf", nginxConfig)
        try writeFile(dir + "/avalon-fastcgi.conf", try shipped(share + "/nginx/avalon-fastcgi.conf"))
        try writeFile(dir + "/avalon-log.conf", try shipped(share + "/nginx/avalon-log.conf"))
        try writeFile(dir + "/avalon-cache.conf", try shipped(share + "/nginx/avalon-cache.conf"))
        for page in ["index.html", "app.js", "player.js", "style.css"] {
            try writeFile(dir + "/www/" + page, try shipped(share + "/web/" + page), mode: 0o644)
        }
        guard production else { return }
        try writeFile(dir + "/avalonctl", controlScript, mode: 0o755)
        try makeDirectory(dir + "/systemd")
        for u in units { try writeFile(dir + "/systemd/" + u.name, u.text) }
    }
}

public struct ExpressError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A file shipped with Avalon, or an error that names it.
func shipped(_ path: String) throws -> String {
    do { return try readFile(path) } catch { throw ExpressError("cannot read \(path): \(error)") }
}
