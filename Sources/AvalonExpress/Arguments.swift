import AvalonStore
import Glibc

/// Overwrites a database URL's password in this process's own argument
/// strings, where /proc/PID/cmdline (and so ps) reads them, for the life of
/// `start-server`; children never get it on their command lines. Returns
/// whether `url` carried a password.
public func hidePasswordArgument(_ url: String) -> Bool {
    guard let parsed = try? DatabaseURL(parsing: url), parsed.password != nil else { return false }
    let masked = Array(DatabaseURL.redact(url).utf8)
    for i in 1..<Int(CommandLine.argc) {
        guard let arg = CommandLine.unsafeArgv[i] else { continue }
        let text = String(cString: arg)
        // `--database URL` or `--database=URL`
        let start = text == url ? 0 : text == "--database=" + url ? "--database=".utf8.count : -1
        guard start >= 0 else { continue }
        let length = strlen(arg) - start
        for j in 0..<length { arg[start + j] = j < masked.count ? CChar(bitPattern: masked[j]) : 0 }
    }
    return true
}
