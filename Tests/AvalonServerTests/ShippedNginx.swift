import AvalonStore
import Foundation
import TestSupport
import XCTest

/// A shipped site file of nginx/ (avalon.conf, avalon-upstream.conf) under
/// nginx in the foreground, its snippets, logs, cache and port made the test's
/// own in `dir` (PORT in an edit is the port). Returns nginx and its port.
func shippedNginx(site: String, dir: String, edits: [(String, String)],
                  file: StaticString = #filePath, line: UInt = #line) throws -> (process: Background, port: Int) {
    let port = freePort()
    try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
    var conf = try String(contentsOfFile: packageRoot + "/nginx/" + site)
    let cachePath = site == "avalon.conf" ? "/var/cache/nginx-avalon " : "/var/cache/nginx-avalon-upstream "
    for (from, to) in edits + [
        ("include snippets/avalon-log.conf;", "include \(packageRoot)/nginx/avalon-log.conf;"),
        ("include snippets/avalon-fastcgi.conf;", "include \(packageRoot)/nginx/avalon-fastcgi.conf;"),
        ("include snippets/avalon-cache.conf;", "include \(packageRoot)/nginx/avalon-cache.conf;"),
        (cachePath, dir + "/cache "),
        ("include fastcgi_params;", "include /etc/nginx/fastcgi_params;"),
    ] {
        XCTAssertTrue(conf.contains(from), "\(site) has no \(from)", file: file, line: line)
        conf = conf.replacingOccurrences(of: from, with: to)
    }
    conf = conf.replacingOccurrences(of: "PORT", with: "\(port)")
    try """
        daemon off; worker_processes 1; pid \(dir)/nginx.pid; error_log \(dir)/error.log;
        events { worker_connections 64; }
        http { include /etc/nginx/mime.types;
               client_body_temp_path \(dir)/tmp; fastcgi_temp_path \(dir)/tmp; proxy_temp_path \(dir)/tmp;
               uwsgi_temp_path \(dir)/tmp; scgi_temp_path \(dir)/tmp;
               \(conf) }
        """.write(toFile: dir + "/nginx.conf", atomically: true, encoding: .utf8)
    let nginx = try Background([try which("nginx"), "-c", dir + "/nginx.conf"], environment: [:], logPath: dir + "/nginx.out")
    if !waitUntil(timeout: 10, { canConnect(port: port) }) {
        _ = nginx.stop(SIGQUIT)
        throw SupportError("nginx did not start: \(nginx.log) \((try? String(contentsOfFile: dir + "/error.log")) ?? "")")
    }
    return (nginx, port)
}

/// avalon-fcgi over the test collection (`Stack.rows()`) in `dir`, on a unix
/// socket there that a shipped site's nginx passes to. Returns it and the socket.
func shippedBackend(dir: String, workers: Int, environment: [String: String]) throws -> (process: Background, socket: String) {
    let db = dir + "/avalon.sqlite", sock = dir + "/avalon.sock"
    try SQLiteStore(path: db).replace(with: Stack.rows())
    let fcgi = try Background([product("avalon-fcgi"), "--bind", "unix:" + sock, "--workers", "\(workers)", "--socket-mode", "0666"],
                              environment: ["DATABASE_URL": "sqlite:///" + db, "LOG_PATH": dir + "/avalon.log"].merging(environment) { $1 },
                              logPath: dir + "/fcgi.log")
    if !waitUntil(timeout: 20, { FileManager.default.fileExists(atPath: sock) }) {
        _ = fcgi.stop(SIGTERM)
        throw SupportError("avalon-fcgi did not start: \(fcgi.log)")
    }
    return (fcgi, sock)
}
