import ArgumentParser
import AvalonCore
import AvalonScan
import AvalonConfig
import AvalonStore
import Glibc

struct AvalonScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "avalon-scan",
        abstract: "Read the tags of every audio file under PATH and replace the collection in the database.",
        discussion: "The database is -d, or DATABASE_URL from AVALON_CONFIG and the environment. The old collection is replaced in one transaction: a failed scan leaves it as it was.",
        version: avalonVersion)

    @Argument(help: "Folder to scan (recursively).")
    var path: String?

    @Option(name: [.customShort("d"), .customLong("database")], help: "Database URL (sqlite:///… or postgresql://…).")
    var database: String?

    @Option(help: ArgumentHelp("Refuse to write a scan that drops more than this share of the stored songs.", valueName: "PERCENT"))
    var maxLoss: Double = 50

    @Flag(help: "Write the scan even when it drops songs past --max-loss, or all of them.")
    var allowLoss = false

    @Flag(name: .shortAndLong, help: "Print only warnings and errors.")
    var quiet = false

    @Flag(name: .customShort("V"), help: "Print the version and exit.")
    var showVersion = false

    func run() throws {
        if showVersion { print(avalonVersion); return }
        guard let path else { throw ValidationError("Missing expected argument '<path>'") }
        guard maxLoss >= 0 && maxLoss <= 100 else { throw ValidationError("--max-loss must be a percentage from 0 to 100") }
        let status = scan(path)
        Glibc.exit(status)
    }

    func say(_ s: String) { fputs(s + "\n", stderr) }

    func scan(_ path: String) -> Int32 {
        let url: DatabaseURL
        do {
            if let database { url = try DatabaseURL(parsing: database) } else { url = try Config.load().databaseURL }
        } catch {
            say("avalon-scan: \(error)")
            return 2
        }
        let tty = isatty(2) == 1 && !quiet
        let started = monotonicSeconds()
        var lastDraw = 0.0
        let progress: (ScanStats) -> Void = { s in
            guard tty else { return }
            let t = monotonicSeconds()
            guard t - lastDraw > 0.1 else { return }
            lastDraw = t
            let rate = Double(s.files) / max(0.001, t - started)
            fputs("\r\u{1B}[K\(s.files) files read, \(s.songs) songs, \(s.skipped) skipped, \(Int(rate)) files/s", stderr)
        }
        let log: (String) -> Void = { line in
            if tty { fputs("\r\u{1B}[K", stderr) }
            say(line)
        }
        do {
            let store = try openStore(url)
            let (rows, stats) = try scanCollection(root: path, log: log, progress: progress)
            if tty { fputs("\r\u{1B}[K", stderr) }
            let readTime = monotonicSeconds() - started
            let guardrail = LossGuard(maxLossPercent: maxLoss, allowLoss: allowLoss)
            try store.replace(with: rows) { try guardrail.check(current: $0, replacement: rows) }
            if !quiet {
                say("""
                    avalon-scan: \(stats.files) files, \(stats.songs) songs, \(rows.albums.count) albums, \
                    \(rows.artists.count) artists, \(rows.genres.count) genres; \(stats.skipped) skipped, \
                    \(stats.warnings) warnings\(stats.undecodableNames > 0 ? ", \(stats.undecodableNames) names not UTF-8 (shown with \u{FFFD})" : ""); read in \(fmt(readTime)) s, written to \(url) in \(fmt(monotonicSeconds() - started - readTime)) s
                    """)
            }
            return 0
        } catch {
            if tty { fputs("\r\u{1B}[K", stderr) }
            say("avalon-scan: \(error)")
            return 1
        }
    }
}

func fmt(_ v: Double) -> String { String((v * 100).rounded() / 100) }

AvalonScanCommand.main()
