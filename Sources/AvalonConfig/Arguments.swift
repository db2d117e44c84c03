import Glibc

/// Secrets given on the command line. Any user can read a process's
/// arguments (`/proc/PID/cmdline`, `ps`), so a long-running process that was
/// handed a password overwrites it where the kernel reads them from.
public enum CommandLineSecrets {
    /// Overwrites every occurrence of each secret in this process's arguments
    /// with `*`; answers whether any was found. The bytes change in place
    /// (same length), which is what `/proc/PID/cmdline` shows from then on.
    @discardableResult
    public static func hide(_ secrets: [String]) -> Bool {
        var found = false
        for secret in secrets where !secret.isEmpty {
            let s = Array(secret.utf8)
            for i in 1..<Int(CommandLine.argc) {
                guard let arg = CommandLine.unsafeArgv[i] else { continue }
                let n = strlen(arg)
                guard n >= s.count else { continue }
                arg.withMemoryRebound(to: UInt8.self, capacity: n) { a in
                    var j = 0
                    while j + s.count <= n {
                        if memcmp(a + j, s, s.count) == 0 {
                            memset(a + j, Int32(UInt8(ascii: "*")), s.count)
                            found = true
                            j += s.count
                        } else {
                            j += 1
                        }
                    }
                }
            }
        }
        return found
    }

    /// The warning for a password given as an argument.
    public static func warning(program: String, option: String) -> String {
        "\(program): warning: the password in \(option) was visible to every user of this machine until it was hidden; "
            + "set DATABASE_URL in the environment or the file AVALON_CONFIG names, or keep the password in ~/.pgpass (PGPASSFILE)"
    }
}
