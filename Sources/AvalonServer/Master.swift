import AvalonConfig
import AvalonCore
import AvalonStore
import CSystem
import Glibc
import Logging

/// The master process: holds the listening socket and the collection, forks
/// workers that share the collection's pages, replaces workers that die, and
/// reloads on SIGHUP by loading a new collection and swapping worker sets.
public final class Master {
    let listener: Listener
    let workerCount: Int
    let config: Config
    let logger: Logger
    let loader: CollectionLoader
    let table: SharedTable
    let redactor: Redactor
    var collection: MusicCollection
    /// The Subsonic API's users and keys, re-read with each collection.
    var subsonic: SubsonicAPI?
    var generation = 0
    /// pid → generation, start time and slot in the shared table.
    var workers: [pid_t: (generation: Int, started: Double, slot: Int)] = [:]
    var pendingRestarts: [Double] = []
    var quickDeaths = 0
    /// When the master next looks at the database's generation.
    var nextGenerationCheck = Double.infinity
    /// The database did not answer the last look (logged once per outage).
    var databaseUnreachable = false
    /// The look at the generation in progress, in a child.
    var look: HelperChild?
    /// A reload's trial load in progress, in a child: only a load that worked
    /// there is made in the master, so that nothing a collection or its
    /// database does (a crash, a trap, a hang) can take the master down.
    var trial: (child: HelperChild, started: Double)?
    /// A reload asked for while one was in progress: made after it.
    var reloadAgain: String?
    /// The snapshot of a collection loaded from the database at start, being
    /// written in a child (a reload's trial load writes its own).
    var snapshotWriter: HelperChild?
    var snapshotKey: String?
    var jitter: SplitMix64
    /// Mixed into ETags; drawn anew at each load of a generation-0 collection.
    var etagSalt: UInt64 = 0
    /// A new master started by SIGUSR2 that has not taken over yet.
    var upgradeChild: pid_t?
    var upgradeDeadline = 0.0
    /// The new master took over: the socket file and the pid file are its now.
    public private(set) var handedOver = false
    /// In a new master of an upgrade, once it serves: takes over the pid file.
    var onTakeOver: ((pid_t) -> Void)?

    init(listener: Listener, workers: Int, config: Config, logger: Logger, table: SharedTable,
                collection: MusicCollection, loadSeconds: Double, subsonic: SubsonicAPI? = nil,
                loader: CollectionLoader, snapshotKey: String?) {
        self.subsonic = subsonic
        self.listener = listener
        self.workerCount = max(1, workers)
        self.config = config
        self.logger = logger
        self.table = table
        self.redactor = Redactor(config: config)
        self.collection = collection
        self.loader = loader
        self.snapshotKey = snapshotKey
        jitter = SplitMix64(seed: randomSeed())
        etagSalt = collection.generation == 0 ? jitter.next() : 0
        table[.configuredWorkers] = UInt64(workerCount)
        table[.masterPid] = UInt64(getpid())
        table[.masterStarted] = wallNanoseconds()
        describeCollection(loadSeconds: loadSeconds)
    }

    /// Slots for the workers of two generations during a reload, and spare.
    public static func slotsNeeded(workers: Int) -> Int { 4 * max(1, workers) }

    /// The collection being served, for metrics and health checks; written
    /// before the workers that serve it start.
    func describeCollection(loadSeconds: Double) {
        table[.songs] = UInt64(collection.songs.count)
        table[.albums] = UInt64(collection.albums.count)
        table[.artists] = UInt64(collection.artists.count)
        table[.genres] = UInt64(collection.genres.count)
        table[.loadedAt] = wallNanoseconds()
        table[.loadNanoseconds] = UInt64(max(0, loadSeconds) * 1e9)
        table[.collectionGeneration] = UInt64(max(0, collection.generation))
    }

    /// RELOAD_INTERVAL spread by up to a quarter either way: servers started
    /// together drift apart instead of reloading in lockstep.
    func scheduleGenerationCheck(from now: Double, first: Bool = false) {
        let interval = config.reloadInterval
        guard interval > 0 else { nextGenerationCheck = .infinity; return }
        let u = Double(jitter.next() >> 11) / Double(1 << 53)
        nextGenerationCheck = now + interval * (first ? u + 0.25 : 0.75 + 0.5 * u)
    }

    /// Starts a look at the database's generation in a child: a database that
    /// hangs holds the child, not the loop that restarts workers.
    func checkGeneration() {
        guard look == nil, trial == nil else { return }
        let url = config.databaseURL, timeout = config.healthCheckTimeout
        do {
            look = try HelperChild.start(deadline: monotonicSeconds() + timeout + 2) {
                String(try DatabaseProbe.generation(url, timeout: timeout))
            }
        } catch {
            logger.error("cannot look at the collection's generation: \(error)")
        }
    }

    /// The look's answer; a reload when the generation is not the one served.
    func lookDone(_ outcome: HelperChild.Outcome) {
        let stored: Int64
        switch outcome {
        case .answered(let text) where Int64(text) != nil:
            stored = Int64(text)!
        case .answered(let text), .failed(let text):
            if !databaseUnreachable {
                logger.warning("cannot look at the collection's generation; serving generation \(collection.generation) until the database answers: \(redactor.text(text))")
                databaseUnreachable = true
            }
            return
        }
        if databaseUnreachable {
            logger.info("the database answers again (generation \(stored))")
            databaseUnreachable = false
        }
        if stored != collection.generation {
            reload(reason: "generation \(stored) in the database, \(collection.generation) served")
        }
    }

    static var handledSignals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR2, SIGWINCH] { sigaddset(&set, s) }
        return set
    }

    /// Blocks the signals the master waits for; call before anything forks.
    public static func blockSignals() {
        var set = handledSignals
        sigprocmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    func spawn() {
        // Slots free up as retiring workers exit; rapid reloads can use them all for a moment.
        guard let slot = (0..<table.slotCount).first(where: { table.state($0, .state) == SharedTable.SlotState.free.rawValue }) else {
            logger.warning("no free worker slot; starting the worker shortly")
            pendingRestarts.append(monotonicSeconds() + 0.2)
            return
        }
        let ops = OpsViews(table: table, config: config, redactor: redactor, slot: table.slot(slot))
        let signIns = subsonic != nil && config.subsonicSignInFailures > 0
            ? SignInFailures(table: table, slot: slot, limit: config.subsonicSignInFailures, windowSeconds: config.subsonicSignInWindow) : nil
        let logger = self.logger
        let router = Router(collection: collection, requestPath: config.requestPath, adminSecret: config.adminSecret, ops: ops, subsonic: subsonic,
                            signIns: signIns) { address, failures, window in
            // An IPv6 address is counted, and refused, with its whole /64.
            let scope = address.contains(":") && !address.lowercased().hasPrefix("::ffff:") ? " (and its /64)" : ""
            logger.warning("Subsonic sign-ins from \(address)\(scope) refused for the rest of a \(window) s window: \(failures) failed")
        }
        let pid = fork()
        if pid == 0 {
            table.slot(slot).claim(pid: getpid())
            let statsd = Statsd(host: config.statsdHost, port: config.statsdPort, prefix: config.statsdPrefix)
            let reporter = config.sentryDSN.flatMap(ErrorReporter.parse).map { ErrorReporter(dsn: $0, logger: logger) }
            Worker(listenFD: listener.fd, router: router, logger: logger, statsd: statsd, reporter: reporter,
                   slot: table.slot(slot), redactor: redactor, etagSalt: etagSalt).run()
        }
        if pid < 0 {
            logger.error("fork failed: \(String(cString: strerror(errno)))")
            pendingRestarts.append(monotonicSeconds() + 1)
            return
        }
        table.setState(slot, .pid, UInt64(pid))
        table.setState(slot, .spawnedAt, wallNanoseconds())
        table.setState(slot, .generation, UInt64(generation))
        table.setState(slot, .state, SharedTable.SlotState.active.rawValue)
        workers[pid] = (generation, monotonicSeconds(), slot)
        logger.debug("started worker \(pid) in slot \(slot)")
    }

    /// Runs until SIGTERM or SIGINT; returns the exit status.
    public func run() -> Int32 {
        generation = 1
        for _ in 0..<workerCount { spawn() }
        logger.info("serving on \(listener.description) with \(workerCount) workers")
        if let key = snapshotKey {
            snapshotKey = nil
            startSnapshotWriter(key: key)
        }
        scheduleGenerationCheck(from: monotonicSeconds(), first: true)
        if let old = Upgrade.parent(currentEnvironment()) {
            // Serving: the old master may retire now, and systemd follows this one.
            onTakeOver?(old)
            kill(old, SIGWINCH)
            logger.info("upgrade: took over from master \(old)")
            notifySystemd("MAINPID=\(getpid())\nREADY=1")
        } else {
            notifySystemd("READY=1")
        }
        var set = Self.handledSignals
        var stopping = false
        var stopDeadline = 0.0
        while true {
            var info = siginfo_t()
            // At most 0.2 s, and no later than the next generation check: a
            // check rounded up to the next tick would put servers started
            // together on the same ticks, undoing the jitter (reload gaps
            // between two of them came in multiples of 0.2 s, often 0).
            // (While stopping no check runs: its time stays past.)
            let wait = stopping ? 0.2 : min(0.2, max(0.001, nextGenerationCheck - monotonicSeconds()))
            var timeout = timespec(tv_sec: 0, tv_nsec: Int(wait * 1e9))
            let sig = sigtimedwait(&set, &info, &timeout)
            let now = monotonicSeconds()
            // logrotate signals the master; workers hold their own descriptors.
            if reopenRequested.load(ordering: .relaxed) {
                LogSink.shared.reopenIfAsked()
                for pid in workers.keys { kill(pid, SIGUSR1) }
                logger.info("log file reopened (SIGUSR1)")
            }
            switch sig {
            case SIGCHLD:
                reap(stopping: stopping)
            case SIGHUP where !stopping:
                reload(reason: "SIGHUP")
            case SIGUSR2 where !stopping:
                startUpgrade()
            case SIGWINCH where upgradeChild != nil && info._sifields._kill.si_pid == upgradeChild!:
                logger.info("upgrade: the new master \(upgradeChild!) serves; retiring \(workers.count) workers and exiting")
                handedOver = true
                upgradeChild = nil
                stopping = true
                abandonHelpers()
                stopDeadline = now + 30
                for pid in workers.keys { kill(pid, SIGTERM) }
            case SIGTERM, SIGINT:
                if !stopping {
                    logger.info("stopping: waiting for \(workers.count) workers to finish their requests")
                    stopping = true
                    stopDeadline = now + 30
                    for pid in workers.keys { kill(pid, SIGTERM) }
                    abandonHelpers()
                }
            default:
                break
            }
            if stopping {
                reap(stopping: true)
                if workers.isEmpty { break }
                if now > stopDeadline {
                    for pid in workers.keys { kill(pid, SIGKILL) }
                }
                continue
            }
            if let child = upgradeChild, now > upgradeDeadline {
                logger.error("upgrade: the new master \(child) did not take over within 300 s; stopping it and serving on")
                kill(child, SIGTERM)
                upgradeChild = nil
            }
            if now >= nextGenerationCheck {
                checkGeneration()
                scheduleGenerationCheck(from: monotonicSeconds())
            }
            // Helpers past their time are killed; their reaping says so.
            if let c = look, now > c.deadline { kill(c.pid, SIGKILL) }
            if let t = trial, now > t.child.deadline { kill(t.child.pid, SIGKILL) }
            if let s = snapshotWriter, now > s.deadline { kill(s.pid, SIGKILL) }
            // Restarts that waited out their back-off (or none: a worker reaped just now).
            while let first = pendingRestarts.first, first <= monotonicSeconds() {
                pendingRestarts.removeFirst()
                spawn()
            }
        }
        if let path = listener.ownedPath, !handedOver { unlink(path) }
        logger.info(handedOver ? "stopped; the new master serves" : "stopped")
        return 0
    }

    /// SIGUSR2: start the new master; this one serves on until it takes over.
    func startUpgrade() {
        if let child = upgradeChild {
            logger.warning("upgrade: new master \(child) is still starting; SIGUSR2 ignored")
            return
        }
        do {
            let pid = try Upgrade.start(listener: listener)
            upgradeChild = pid
            upgradeDeadline = monotonicSeconds() + 300
            logger.info("upgrade: started new master \(pid) from \(Upgrade.command.first ?? "?"); serving until it takes over")
        } catch {
            logger.error("upgrade: \(error); serving on")
        }
    }

    func reap(stopping: Bool) {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            if let l = look, pid == l.pid {
                look = nil
                lookDone(l.outcome(status: status, at: monotonicSeconds()))
                continue
            }
            if let t = trial, pid == t.child.pid {
                trial = nil
                trialDone(t.child.outcome(status: status, at: monotonicSeconds()), started: t.started, trialPid: pid)
                continue
            }
            if let s = snapshotWriter, pid == s.pid {
                snapshotWriter = nil
                snapshotWritten(s, s.outcome(status: status, at: monotonicSeconds()))
                continue
            }
            if pid == upgradeChild {
                upgradeChild = nil
                let how = (status & 0x7f) == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
                logger.error("upgrade failed: the new master \(pid) stopped (\(how)) before taking over (its log says why); this master serves on")
                continue
            }
            guard let w = workers.removeValue(forKey: pid) else { continue }
            table.setState(w.slot, .state, SharedTable.SlotState.free.rawValue)
            table.setState(w.slot, .pid, 0)
            if stopping || w.generation != generation { continue }
            table.increment(.workerRestarts)
            let exitCode = (status & 0x7f) == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
            // Workers that keep dying soon after starting are restarted ever more slowly.
            let lived = monotonicSeconds() - w.started
            quickDeaths = lived < 5 ? quickDeaths + 1 : 0
            let delay = quickDeaths == 0 ? 0 : min(30, 0.1 * Double(1 << min(quickDeaths, 9)))
            logger.error("worker \(pid) died (\(exitCode)); restarting it\(delay > 0 ? " in \(delay) s" : "")")
            pendingRestarts.append(monotonicSeconds() + delay)
            pendingRestarts.sort()
        }
    }

    func abandonHelpers() {
        look?.abandon()
        if let t = trial {
            t.child.abandon()
            removeSnapshotLeftover(t.child.pid)
        }
        stopSnapshotWriter()
        look = nil
        trial = nil
    }

    /// Stops the start's snapshot writer, if still at work, and removes what it left.
    func stopSnapshotWriter() {
        guard let s = snapshotWriter else { return }
        s.abandon()
        removeSnapshotLeftover(s.pid)
        snapshotWriter = nil
    }

    /// Writes the snapshot of the collection served in a child, which shares
    /// its pages: the loop goes on reaping and restarting workers meanwhile.
    func startSnapshotWriter(key: String) {
        let (loader, collection) = (self.loader, self.collection)
        let started = monotonicSeconds()
        do {
            snapshotWriter = try HelperChild.start(deadline: started + Self.trialSeconds) {
                try loader.writeSnapshot(collection, key: key)
                return String(format1: monotonicSeconds() - started)
            }
        } catch {
            logger.error("the snapshot is not written: \(error)")
        }
    }

    func snapshotWritten(_ child: HelperChild, _ outcome: HelperChild.Outcome) {
        switch outcome {
        case .answered(let seconds):
            logger.info("snapshot written to \(config.snapshotPath ?? "") in \(seconds) s")
        case .failed(let why):
            removeSnapshotLeftover(child.pid)
            logger.error("the snapshot is not written (the next start loads from the database again): \(why)")
        }
    }

    /// A writer stopped midway leaves its temporary file.
    func removeSnapshotLeftover(_ pid: pid_t) {
        if let path = config.snapshotPath { CollectionSnapshot.removeLeftover(path, writer: pid) }
    }

    /// SIGHUP or a new generation: load the new collection in a child first;
    /// only when that worked, load it here, start new workers and then retire
    /// the old ones (which finish the requests in hand).
    func reload(reason: String) {
        if trial != nil {
            reloadAgain = reason
            return
        }
        logger.info("reloading the collection (\(reason))")
        // The start's snapshot writer, still at work, would land its snapshot
        // of the old collection over the trial's: stopped first.
        stopSnapshotWriter()
        let loader = self.loader
        do {
            // The trial reads the database and writes the snapshot, which the
            // master's own load then reads: one build per reload, not two.
            trial = (try HelperChild.start(deadline: monotonicSeconds() + Self.trialSeconds) {
                let loaded = try loader.load(create: false, snapshot: false)
                guard let key = loaded.snapshotKey else { return "" }
                do { try loader.writeSnapshot(loaded.collection, key: key) } catch { return "the snapshot is not written: \(error)" }
                return ""
            }, monotonicSeconds())
        } catch {
            reloadFailed("\(error)")
        }
    }

    /// A trial load that has not finished in this long is stopped.
    static let trialSeconds = 600.0

    func trialDone(_ outcome: HelperChild.Outcome, started: Double, trialPid: pid_t) {
        switch outcome {
        case .answered(let note):
            if !note.isEmpty { logger.error("\(note)") }
            finishReload(started: started)
        case .failed(let why):
            removeSnapshotLeftover(trialPid)
            reloadFailed("the load failed: \(why)")
        }
        if let again = reloadAgain {
            reloadAgain = nil
            reload(reason: again)
        }
    }

    func reloadFailed(_ why: String) {
        table.increment(.reloadsFailed)
        table[.reloadFailing] = 1
        logger.error("reload failed, old workers keep serving generation \(collection.generation)\(config.reloadInterval > 0 ? "; trying again at the next look" : ""): \(redactor.text(why))")
    }

    func finishReload(started: Double) {
        let fresh: MusicCollection
        do {
            fresh = try loader.load(create: false, snapshot: true).collection
        } catch {
            reloadFailed("\(error)")
            return
        }
        table[.reloadFailing] = 0
        collection = fresh  // the old one is freed here: workers have their own copies
        do { subsonic = try SubsonicAPI.load(config) } catch { logger.error("Subsonic accounts not re-read, the old ones stay: \(error)") }
        etagSalt = fresh.generation == 0 ? jitter.next() : 0
        releaseFreedMemory()
        table.increment(.reloadsSucceeded)
        describeCollection(loadSeconds: monotonicSeconds() - started)
        let old = workers.filter { $0.value.generation == generation }
        generation += 1
        pendingRestarts.removeAll()
        quickDeaths = 0
        for _ in 0..<workerCount { spawn() }
        // Retiring only once the new ones are active: the workers check
        // never sees fewer active workers than configured.
        for w in old.values { table.setState(w.slot, .state, SharedTable.SlotState.retiring.rawValue) }
        for pid in old.keys { kill(pid, SIGTERM) }
        logger.info("reloaded generation \(fresh.generation): \(fresh.songs.count) songs, \(fresh.albums.count) albums, \(fresh.artists.count) artists, \(fresh.genres.count) genres in \(String(format1: monotonicSeconds() - started)) s")
    }
}

extension String {
    init(format1 v: Double) {
        let r = (v * 10).rounded() / 10
        self = "\(r)"
    }
}
