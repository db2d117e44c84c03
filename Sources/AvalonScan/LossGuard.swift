import AvalonCore
import AvalonStore

/// Keeps a scan from wiping a collection by accident: an unmounted NAS mount
/// point or a mistyped folder scans as empty, and with automatic reloads every
/// server would then serve nothing. Checked inside the replacing transaction.
public struct LossGuard: Sendable {
    /// The share of the stored songs a scan may drop, in percent.
    public var maxLossPercent: Double
    /// Replace whatever is lost (`--allow-loss`).
    public var allowLoss: Bool
    /// How the user writes such a scan anyway, ending the refusal.
    public var remedy = "pass --allow-loss"

    public init(maxLossPercent: Double = 50, allowLoss: Bool = false) {
        self.maxLossPercent = maxLossPercent
        self.allowLoss = allowLoss
    }

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Throws when replacing the songs `current` with `rows` loses too much.
    public func check(current: [ItemID], replacement rows: CollectionRows) throws {
        guard !allowLoss, !current.isEmpty else { return }
        if rows.tracks.isEmpty {
            throw Refused(description: "refusing to replace \(current.count) songs with none: the folder has no readable audio files (is it mounted?); nothing was changed; \(remedy) to empty the collection")
        }
        let kept = Set(rows.tracks.map(\.id))
        let lost = current.reduce(0) { kept.contains($1) ? $0 : $0 + 1 }
        let percent = Double(lost) * 100 / Double(current.count)
        if percent > maxLossPercent {
            let shown = (percent * 10).rounded() / 10
            throw Refused(description: "refusing to replace the collection: \(lost) of its \(current.count) songs (\(shown)%) are not in this scan, more than --max-loss \(maxLossPercent.formatted)%; nothing was changed; \(remedy) if that is intended")
        }
    }
}

private extension Double {
    var formatted: String { self == rounded() ? String(Int(self)) : String(self) }
}
