import CSystem
import AvalonConfig
import AvalonCore
import AvalonStore
import CFastCGI
import Glibc
import Logging

/// Everything `avalon-fcgi` does before and around the worker pool.
public enum Server {
    public struct Options {
        public var bind: String?
        public var workers: Int
        public var pidFile: String?
        public var socketMode: mode_t
        public init(bind: String?, workers: Int?, pidFile: String?, socketMode: mode_t = 0o660) {
            self.socketMode = socketMode
            self.bind = bind
            self.workers = workers ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            self.pidFile = pidFile
        }
    }

    /// Runs the server; returns the process exit status.
    public static func run(_ options: Options) -> Int32 {
        let env = currentEnvironment()
        Upgrade.capture()
        let config: Config
        let logger: Logger
        do {
            config = try Config.load(environment: env)
            logger = try bootstrapLogging(config)
        } catch {
            fputs("avalon-fcgi: \(error)\n", stderr)
            return 2
        }
        for w in config.warnings { logger.warning("\(w)") }
        // A test hook: a collection too large to load, made small.
        if let limit = env["AVALON_TEST_OFFSET_LIMIT"].flatMap(Int.init), limit > 0 { OffsetLimit.bytes.value = limit }
        if let dsn = config.sentryDSN, ErrorReporter.parse(dsn) == nil {
            logger.warning("SENTRY_DSN is not a Sentry DSN (scheme://key@host/project); errors are logged only")
        }
        // Requests that arrive while the collection loads wait in the socket's backlog.
        Master.blockSignals()
        let listener: Listener
        do {
            // An upgrade's new master serves the socket its old master passed.
            listener = try Upgrade.inheritedListener(env)
                ?? options.bind.map { try Listener.bind($0, mode: options.socketMode) } ?? Listener.inherited(environment: env)
            // An upgrade's new master takes the pid file once it serves, not before.
            if let pidFile = options.pidFile, Upgrade.parent(env) == nil { try writePidFile(pidFile) }
        } catch {
            logger.critical("\(error)")
            return 1
        }
        var master: Master?
        var ownsPidFile = Upgrade.parent(env) == nil
        // The pid file goes with this master, unless a new one took it over.
        defer { if let p = options.pidFile, ownsPidFile, master?.handedOver != true { unlink(p) } }
        // Reloads create nothing: tables that went missing fail the reload
        // (the old collection stays) instead of loading as an empty one.
        let loader = CollectionLoader(config: config, logger: logger)
        let started = monotonicSeconds()
        let loaded: CollectionLoader.Loaded
        do {
            loaded = try loader.load(create: true, snapshot: true)
        } catch {
            logger.critical("cannot load the collection from \(config.databaseURL): \(error)")
            // An upgrade that fails leaves the old master's socket to it.
            if let path = listener.ownedPath, Upgrade.parent(env) == nil { unlink(path) }
            return 1
        }
        let loadSeconds = monotonicSeconds() - started
        let collection = loaded.collection
        let subsonic: SubsonicAPI?
        do { subsonic = try SubsonicAPI.load(config) } catch {
            logger.critical("\(error)")
            if let path = listener.ownedPath, Upgrade.parent(env) == nil { unlink(path) }
            return 1
        }
        let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? String(geteuid())
        logger.info("""
            loaded \(collection.songs.count) songs, \(collection.albums.count) albums, \(collection.artists.count) artists, \
            \(collection.genres.count) genres from \(config.databaseURL) in \(String(format1: loadSeconds)) s; \
            \(residentMegabytes()) MB resident; request path \(config.requestPath); user \(user); version \(avalonVersion)
            """)
        if collection.droppedTracks > 0 {
            logger.warning("\(collection.droppedTracks) tracks skipped: their album, artist or genre is missing, or their id repeats")
        }
        // Mapped before the first fork, so that every worker shares it.
        let table = SharedTable(slots: Master.slotsNeeded(workers: options.workers))
        LogLevelControl.table = table
        let m = Master(listener: listener, workers: options.workers, config: config, logger: logger, table: table,
                       collection: collection, loadSeconds: loadSeconds, subsonic: subsonic, loader: loader,
                       snapshotKey: loaded.snapshotKey)
        master = m
        m.onTakeOver = { old in
            guard let p = options.pidFile else { return }
            do {
                try writePidFile(p, replacing: old)
                ownsPidFile = true
            } catch {
                logger.error("\(error)")
            }
        }
        return m.run()
    }
}

func residentMegabytes() -> Int {
    guard let text = try? readFile("/proc/self/statm") else { return 0 }
    let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

/// Gives the heap memory that loading freed back to the system. Building the
/// collection frees about as much as it keeps (the database's rows, sort
/// scratch), and glibc would keep it resident: 50 MB more at 1M tracks, in
/// the master and in every worker forked from it.
public func releaseFreedMemory() {
    malloc_trim(0)
}
