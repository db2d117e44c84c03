import AvalonConfig
import AvalonCore
import AvalonStore
import Logging

/// Loads the collection from the snapshot when it names the generation the
/// database holds now, else from the database (which stays the truth).
struct CollectionLoader {
    let config: Config
    let logger: Logger

    struct Loaded {
        let collection: MusicCollection
        /// Loaded from the database, for a generation a snapshot may be written
        /// for: the key to write it under. Nil: from the snapshot, or no snapshot.
        let snapshotKey: String?
    }

    /// `create`: make missing tables (at start; reloads create nothing).
    /// `snapshot`: read the snapshot when it fits (a reload's trial load reads
    /// the database, so that SIGHUP always re-reads it, and writes the snapshot).
    func load(create: Bool, snapshot useSnapshot: Bool) throws -> Loaded {
        let store = try openStore(config.databaseURL)
        // A standby refuses to create tables; its load says what is missing.
        if create { try? store.ensureSchema() }
        // A stamp that cannot be read costs the snapshot, not the start.
        if let path = config.snapshotPath, useSnapshot, let stamp = (try? store.generationStamp()) ?? nil,
           let key = CollectionSnapshot.key(stamp: stamp) {
            let started = monotonicSeconds()
            switch CollectionSnapshot.read(path: path, key: key) {
            case .loaded(let c):
                releaseFreedMemory()
                logger.info("read the collection's indexes from the snapshot \(path) in \(String(format1: monotonicSeconds() - started)) s")
                return Loaded(collection: c, snapshotKey: nil)
            case .missing:
                logger.info("no snapshot at \(path) yet: loading from the database")
            case .unusable(let why):
                logger.warning("the snapshot \(path) is not used (\(why)): loading from the database")
            }
        }
        let c = try store.load()
        releaseFreedMemory()
        // The stamp read after the load names the same generation only if no
        // scan wrote in between; a generation's rows never change after.
        guard config.snapshotPath != nil, c.generation > 0, let stamp = try? store.generationStamp(),
              stamp.hasPrefix("generation \(c.generation) written ") else { return Loaded(collection: c, snapshotKey: nil) }
        return Loaded(collection: c, snapshotKey: CollectionSnapshot.key(stamp: stamp))  // nil: no snapshot possible
    }

    /// Writes the snapshot (in a helper child: it takes seconds at 10M songs).
    func writeSnapshot(_ c: MusicCollection, key: String) throws {
        guard let path = config.snapshotPath else { return }
        try CollectionSnapshot.write(c, path: path, key: key)
    }
}
