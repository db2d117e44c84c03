import AvalonConfig
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
    /// Where the shipped files come from: `web/` and `nginx/avalon-fastcgi.conf`.
    public var share: String
    /// Seconds between the server's looks at the database's generation.
    public var reloadInterval: Double

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

        """
    }

    var nginxConfig: String {
        let mime = access("/etc/nginx/mime.types", R_OK) == 0 ? "include /etc/nginx/mime.types;"
            : "types { text/html html; text/css css; application/javascript js; image/png png; }"
        return """
        # nginx for one Avalon server root, run by an ordinary user: every path it
        # writes is inside \(dir). Written by avalon-express; yours to change.
        # Test it: nginx -t -p \(dir) -c \(dir)/nginx.conf
        worker_processes 1;
        pid \(dir)/nginx.pid;
        error_log \(dir)/logs/nginx-error.log;
        events { worker_connections 512; }
        http {
            \(mime)
            default_type application/octet-stream;
            include \(dir)/avalon-log.conf;
            access_log \(dir)/logs/access.log avalon;
            client_body_temp_path \(dir)/tmp/body;
            fastcgi_temp_path \(dir)/tmp/fastcgi;
            proxy_temp_path \(dir)/tmp/proxy;
            uwsgi_temp_path \(dir)/tmp/uwsgi;
            scgi_temp_path \(dir)/tmp/scgi;
            server {
                listen \(host.contains(":") ? "[\(host)]" : host):\(port);
                server_name localhost;
                # The page, a set of static files.
                root \(dir)/www;
                index index.html;
                gzip on;
                gzip_types application/json text/plain text/css application/javascript;
                gzip_min_length 1024;
                # The project's FastCGI settings (timeouts, buffers, connections).
                include \(dir)/avalon-fastcgi.conf;
                location /avalon/ {
                    include /etc/nginx/fastcgi_params;
                    fastcgi_pass unix:\(socket);
                }
            }
        }

        """
    }

    /// `avalonctl`, apachectl's way: one script for start, stop, restart,
    /// reload, configtest, status and scan.
    var controlScript: String {
        """
        #!/bin/sh
        # Controls the Avalon server in \(dir): avalon-fcgi and its nginx.
        # Written by avalon-express setup-server.
        #   avalonctl start|stop|restart|reload|configtest|status|scan
        ROOT=\(shellQuote(dir))
        FCGI=\(shellQuote(fcgi))
        SCAN=\(shellQuote(scan))
        NGINX=\(shellQuote(nginx))
        MUSIC=\(shellQuote(music))
        WORKERS=\(workers)
        export AVALON_CONFIG="$ROOT/avalon.toml"
        nginx_() { "$NGINX" -p "$ROOT" -e "$ROOT/logs/nginx-error.log" -c "$ROOT/nginx.conf" "$@"; }
        alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
        wait_gone() { for _ in $(seq 1 100); do alive "$1" || return 0; sleep 0.1; done; return 1; }

        start() {
            if alive "$ROOT/avalon.pid"; then
                echo "avalon-fcgi is running already (pid $(cat "$ROOT/avalon.pid"))"
            else
                rm -f "$ROOT/avalon.sock"
                setsid "$FCGI" --bind "unix:$ROOT/avalon.sock" --socket-mode \(asRoot ? "0666" : "0600") --workers "$WORKERS" \\
                    --pid-file "$ROOT/avalon.pid" </dev/null >>"$ROOT/logs/avalon-stderr.log" 2>&1 &
                for _ in $(seq 1 600); do [ -S "$ROOT/avalon.sock" ] && break; sleep 0.1; done
                if [ ! -S "$ROOT/avalon.sock" ]; then
                    echo "avalon-fcgi did not start; see $ROOT/logs/avalon.log and $ROOT/logs/avalon-stderr.log" >&2
                    tail -n 5 "$ROOT/logs/avalon-stderr.log" >&2
                    return 1
                fi
            fi
            if alive "$ROOT/nginx.pid"; then echo "nginx is running already"; else nginx_ || return 1; fi
            echo "Avalon serves \(url)"
        }

        stop() {
            if alive "$ROOT/nginx.pid"; then nginx_ -s quit; wait_gone "$ROOT/nginx.pid"; fi
            if alive "$ROOT/avalon.pid"; then kill -TERM "$(cat "$ROOT/avalon.pid")"; wait_gone "$ROOT/avalon.pid"; fi
            echo "stopped"
        }

        case "$1" in
            start) start ;;
            stop) stop ;;
            restart) stop && start ;;
            reload)
                # New collection and workers without a failed request; nginx re-reads its file.
                alive "$ROOT/avalon.pid" && kill -HUP "$(cat "$ROOT/avalon.pid")"
                alive "$ROOT/nginx.pid" && nginx_ -s reload
                echo "reloaded" ;;
            configtest) nginx_ -t ;;
            status)
                up=0
                for name in avalon nginx; do
                    if alive "$ROOT/$name.pid"; then echo "$name up (pid $(cat "$ROOT/$name.pid"))"; up=$((up + 1)); else echo "$name down"; fi
                done
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
          Description=Avalon music server in \(dir) (avalon-fcgi + nginx)
          After=network.target

          [Service]
          Type=forking
          User=\(currentUser)
          PIDFile=\(dir)/avalon.pid
          ExecStart=\(dir)/avalonctl start
          ExecStop=\(dir)/avalonctl stop
          ExecReload=\(dir)/avalonctl reload

          [Install]
          WantedBy=multi-user.target

          """),
         ("avalon-express-scan.service", """
          [Unit]
          Description=Avalon scanner watching \(music)
          After=avalon-express.service

          [Service]
          User=\(currentUser)
          Environment=AVALON_CONFIG=\(dir)/avalon.toml
          ExecStart=\(shellQuote(scan)) --watch --settle 5 \(shellQuote(music))
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
        // nginx's workers (nobody, when root starts it) must reach the page and the socket.
        if asRoot { chmod(dir, 0o755); chmod(dir + "/www", 0o755) }
        try writeFile(dir + "/avalon.toml", avalonConfig, mode: 0o600)
        try writeFile(dir + "/nginx.conf", nginxConfig)
        try writeFile(dir + "/avalon-fastcgi.conf", try shipped(share + "/nginx/avalon-fastcgi.conf"))
        try writeFile(dir + "/avalon-log.conf", try shipped(share + "/nginx/avalon-log.conf"))
        for page in ["index.html", "app.js", "style.css"] {
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

func shellQuote(_ s: String) -> String {
    "'" + s.replacingAll("'", with: "'\\''") + "'"
}

extension String {
    func replacingAll(_ a: Character, with b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}

func makeDirectory(_ path: String) throws {
    if mkdir(path, 0o700) != 0 && errno != EEXIST {
        throw ExpressError("cannot create \(path) (\(String(cString: strerror(errno)))): pass --server-root with a folder you can write")
    }
    guard access(path, W_OK | X_OK) == 0 else {
        throw ExpressError("\(path) is not writable by this user: choose another with --server-root DIR")
    }
}

func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw ExpressError("cannot write \(path): \(String(cString: strerror(errno)))") }
    let bytes = Array(text.utf8)
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    fchmod(fd, mode)
    close(fd)
    guard n == bytes.count, rename(tmp, path) == 0 else {
        unlink(tmp)
        throw ExpressError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

/// A file shipped with Avalon, or an error that names it.
func shipped(_ path: String) throws -> String {
    do { return try readFile(path) } catch { throw ExpressError("cannot read \(path): \(error)") }
}
