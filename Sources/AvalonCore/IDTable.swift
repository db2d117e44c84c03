/// Open-addressing map from ids to positions, for building only. Ids are
/// SHA-1 output, so their low bits are already a good hash.
struct IDTable {
    private var keys: [ItemID]
    private var values: [UInt32]
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt32.max

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [ItemID](repeating: ItemID(hi: 0, lo: 0), count: size)
        values = [UInt32](repeating: Self.empty, count: size)
        mask = size - 1
    }

    subscript(id: ItemID) -> UInt32? {
        var i = Int(truncatingIfNeeded: id.lo ^ id.hi) & mask
        while values[i] != Self.empty {
            if keys[i] == id { return values[i] }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Adds `id` unless present; returns whether it was added.
    @discardableResult
    mutating func insert(_ id: ItemID, _ value: UInt32) -> Bool {
        if (count + 1) * 2 > keys.count { grow() }
        var i = Int(truncatingIfNeeded: id.lo ^ id.hi) & mask
        while values[i] != Self.empty {
            if keys[i] == id { return false }
            i = (i + 1) & mask
        }
        keys[i] = id
        values[i] = value
        count += 1
        return true
    }

    private mutating func grow() {
        var bigger = IDTable(capacity: keys.count)
        for i in 0..<keys.count where values[i] != Self.empty { bigger.insert(keys[i], values[i]) }
        self = bigger
    }
}
