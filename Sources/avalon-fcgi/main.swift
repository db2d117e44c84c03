import ArgumentParser
import AvalonConfig
import AvalonServer
import Glibc

struct AvalonFCGI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "avalon-fcgi",
        abstract: "Serve a music collection's metadata over FastCGI, behind nginx.",
        discussion: "Without --bind, serves the socket inherited on fd 0 (spawn-fcgi) or from systemd (LISTEN_FDS). Settings come from AVALON_CONFIG and the environment; see avalon-echo-config.",
        version: avalonVersion)

    @Option(help: "Listen on unix:PATH or HOST:PORT instead of an inherited socket.")
    var bind: String?

    @Option(help: "Permissions of a unix socket made by --bind, in octal.")
    var socketMode: String = "0660"

    @Option(help: "Number of worker processes (default: number of cores).")
    var workers: Int?

    @Option(help: "Write the master's pid here; refuse to start if it names a running process.")
    var pidFile: String?

    @Flag(name: .customShort("V"), help: "Print the version and exit.")
    var showVersion = false

    func validate() throws {
        if let w = workers, w < 1 { throw ValidationError("--workers must be at least 1") }
        guard (mode_t(socketMode, radix: 8) ?? 0o1000) <= 0o777 else { throw ValidationError("--socket-mode must be octal, e.g. 0660") }
    }

    func run() throws {
        if showVersion { print(avalonVersion); return }
        Glibc.exit(Server.run(.init(bind: bind, workers: workers, pidFile: pidFile, socketMode: mode_t(socketMode, radix: 8)!)))
    }
}

AvalonFCGI.main()
