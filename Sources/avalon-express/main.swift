import ArgumentParser
import AvalonConfig
import AvalonExpress
import AvalonStore
import Glibc

struct AvalonExpressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "avalon-express",
        abstract: "From a music folder to a running Avalon behind nginx, as an ordinary user.",
        subcommands: [StartServer.self, SetupServer.self, CheckServer.self])
}

extension ExpressOptions {
    /// The database URL: `--database` (its password hidden from the command line at once) or DATABASE_URL.
    mutating func resolveDatabase() {
        if let database {
            if let url = try? DatabaseURL(parsing: database), CommandLineSecrets.hide(url.secrets) {
                warn("--database carries a password, which other users can read in ps until avalon-express hides it; pass the URL in DATABASE_URL instead")
            }
        } else if let url = getenv("DATABASE_URL").map({ String(cString: $0) }), !url.isEmpty {
            database = url
        }
    }
}

func say(_ line: String) { print("avalon-express: " + line); fflush(stdout) }

func warn(_ line: String) { fputs("avalon-express: warning: \(line)\n", stderr) }

func fail(_ error: Error) -> Never {
    fputs("avalon-express: \(error)\n", stderr)
    Glibc.exit(1)
}

struct StartServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start-server",
        abstract: "Scan the folder, start avalon-fcgi and nginx, and stay in the foreground; Ctrl-C stops both.")
    @OptionGroup var options: ExpressOptions
    @Flag(help: "Rescan when the music folder changes; the server picks up the new collection.")
    var reloadOnChange = false

    func run() throws {
        var o = options
        o.resolveDatabase()
        do {
            let root = try Express.prepare(o, production: false, reloadOnChange: reloadOnChange, say: say)
            Glibc.exit(try Express.run(root, reloadOnChange: reloadOnChange, say: say))
        } catch { fail(error) }
    }
}

struct SetupServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup-server",
        abstract: "Write a server root for production: configuration, avalonctl, systemd units; then exit.")
    @OptionGroup var options: ExpressOptions

    func run() throws {
        var o = options
        o.resolveDatabase()
        do {
            let root = try Express.prepare(o, production: true, say: say)
            say("wrote \(root.dir): avalon.toml, nginx.conf, avalon-fastcgi.conf, www/, avalonctl, systemd/")
            say("start it with \(root.dir)/avalonctl start (then: stop, restart, reload, configtest, status, scan)")
            say("or under systemd: copy \(root.dir)/systemd/*.service to /etc/systemd/system/ and systemctl enable --now avalon-express")
        } catch { fail(error) }
    }
}

struct CheckServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-server",
        abstract: "Ask a server root's nginx for the page and the heartbeat (avalonctl start does); one line and exit 1 when either fails.",
        shouldDisplay: false)
    @Option(help: ArgumentHelp("The server root.", valueName: "DIR"))
    var serverRoot: String
    @Option var host = "127.0.0.1"
    @Option var port = 8080

    func run() throws {
        do { try ServerRoot.checkServing(dir: serverRoot, host: host, port: port) } catch { fail(error) }
    }
}

AvalonExpressCommand.main()
