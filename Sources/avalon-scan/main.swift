import ArgumentParser
import AvalonCore
import AvalonScan
import AvalonConfig
import AvalonStore
import Glibc
import Synchronization

let stopRequested = Atomic<Bool>(false)

struct AvalonScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "avalon-scan",
        abstract: "Read the tags of the audio files under PATH and bring the collection in the database up to date.",
        discussion: """
            The database is -d, or DATABASE_URL from AVALON_CONFIG and the environment. Only files that are new or \
            whose size or times changed are read (--full reads all). What changed is written in one transaction, \
            with a new generation; a failed scan leaves the collection as it was, and a scan that changes nothing \
            writes nothing.
            """,
        version: avalonVersion)

    @Argument(help: "Folder to scan (recursively).")
    var path: String?

    @Option(name: [.customShort("d"), .customLong("database")],
            help: "Database URL (sqlite:///… or postgresql://…). A password here is visible to other users: prefer DATABASE_URL or ~/.pgpass.")
    var database: String?

    @Flag(help: "Read every file, not only new and changed ones.")
    var full = false

    @Flag(help: "Read no cover pictures (the cover cache is neither made nor cleaned; a later scan with covers needs --full).")
    var noCovers = false

    @Flag(help: "Stay running: scan again whenever the folder changes (inotify).")
    var watch = false

    @Option(help: ArgumentHelp("With --watch: scan once changes have stopped for this long.", valueName: "SECONDS"))
    var settle: Double = 5

    @Option(help: ArgumentHelp("With --watch: scan on this timer instead of inotify (network filesystems).", valueName: "SECONDS"))
    var poll: Double?

    @Option(help: ArgumentHelp("Refuse to write a scan that drops more than this share of the stored songs.", valueName: "PERCENT"))
    var maxLoss: Double = 50

    @Flag(help: "Write the scan even when it drops songs past --max-loss, or all of them.")
    var allowLoss = false

    @Flag(name: .shortAndLong, help: "Print only warnings and errors.")
    var quiet = false

    @Flag(name: .customShort("V"), help: "Print the version and exit.")
    var showVersion = false

    func validate() throws {
        if showVersion { return }
        guard path != nil else { throw ValidationError("Missing expected argument '<path>'") }
        guard maxLoss >= 0 && maxLoss <= 100 else { throw ValidationError("--max-loss must be a percentage from 0 to 100") }
        guard settle >= 0 else { throw ValidationError("--settle must not be negative") }
        if let poll, poll <= 0 { throw ValidationError("--poll must be more than 0 seconds") }
        if poll != nil && !watch { throw ValidationError("--poll needs --watch") }
    }

    func run() throws {
        if showVersion { print(avalonVersion); return }
        Glibc.exit(scan(path!))
    }

    func say(_ s: String) { fputs(s + "\n", stderr) }

    func scan(_ path: String) -> Int32 {
        var job: ScanJob
        do {
            let config = database == nil ? try Config.load() : nil
            let url = try database.map { try DatabaseURL(parsing: $0) } ?? config!.databaseURL
            if database != nil, CommandLineSecrets.hide(url.secrets) {
                say(CommandLineSecrets.warning(program: "avalon-scan", option: "-d"))
            }
            // With -d the configuration is read for COVER_CACHE and RELOAD_INTERVAL only; the environment's wins as always.
            let settings = try config ?? (getenv("COVER_CACHE") != nil || getenv("AVALON_CONFIG") != nil ? Config.load() : nil)
            job = ScanJob(root: path, url: url, scanner: "avalon-scan \(avalonVersion)", coverCacheSetting: settings?.coverCache)
            // Pictures outlive the generation that dropped them until servers of this configuration reload.
            if let settings { job.coverGraceSeconds = ScanJob.coverGrace(reloadInterval: settings.reloadInterval) }
        } catch {
            say("avalon-scan: \(error)")
            return 2
        }
        job.full = full
        if noCovers { job.coverCache = nil }
        job.lossGuard = LossGuard(maxLossPercent: maxLoss, allowLoss: allowLoss)
        let tty = isatty(2) == 1 && !quiet && !watch
        let started = monotonicSeconds()
        var lastDraw = 0.0
        let progress: (ScanStats) -> Void = { s in
            guard tty else { return }
            let t = monotonicSeconds()
            guard t - lastDraw > 0.1 else { return }
            lastDraw = t
            let rate = Double(s.reread) / max(0.001, t - started)
            fputs("\r\u{1B}[K\(s.reread) of \(s.files - s.unchanged) files read, \(Int(rate)) files/s", stderr)
        }
        let log: (String) -> Void = { line in
            if tty { fputs("\r\u{1B}[K", stderr) }
            say(line)
        }
        if watch {
            for s in [SIGTERM, SIGINT] { signal(s) { _ in stopRequested.store(true, ordering: .relaxed) } }
            say("avalon-scan: watching \(path) (\(poll.map { "polling every \($0) s" } ?? "inotify, settle \(settle) s")); database \(job.url)")
            do {
                try watchAndScan(job, settle: settle, poll: poll, log: log,
                                 report: { if !quiet || $0.outcome.generationWritten { say("avalon-scan: \($0.summary)") } },
                                 stop: { stopRequested.load(ordering: .relaxed) })
            } catch {
                say("avalon-scan: \(error)")
                return 1
            }
            return 0
        }
        do {
            let report = try job.run(log: log, progress: progress)
            if tty { fputs("\r\u{1B}[K", stderr) }
            if !quiet { say("avalon-scan: \(report.summary); \(job.url)") }
            return 0
        } catch {
            if tty { fputs("\r\u{1B}[K", stderr) }
            say("avalon-scan: \(error)")
            return 1
        }
    }
}

AvalonScanCommand.main()
