/// Open-addressing map from ids to positions, for building only. Ids are
/// SHA-1 output, so their low bits are already a good hash.
struct IDTable {
    /// Key and value side by side: a lookup misses the cache once, not twice.
    private struct Slot {
        var key: ItemID
        var value: UInt32
    }
    private var slots: [Slot]
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt32.max

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Slot](repeating: Slot(key: ItemID(hi: 0, lo: 0), value: Self.empty), count: size)
        mask = size - 1
    }

    subscript(id: ItemID) -> UInt32? {
        var i = Int(truncatingIfNeeded: id.lo ^ id.hi) & mask
        while slots[i].value != Self.empty {
            if slots[i].key == id { return slots[i].value }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Adds `id` unless present; returns whether it was added.
    @discardableResult
    mutating func insert(_ id: ItemID, _ value: UInt32) -> Bool {
        if (count + 1) * 2 > slots.count { grow() }
        var i = Int(truncatingIfNeeded: id.lo ^ id.hi) & mask
        while slots[i].value != Self.empty {
            if slots[i].key == id { return false }
            i = (i + 1) & mask
        }
        slots[i] = Slot(key: id, value: value)
        count += 1
        return true
    }

    private mutating func grow() {
        var bigger = IDTable(capacity: slots.count)
        for s in slots where s.value != Self.empty { bigger.insert(s.key, s.value) }
        self = bigger
    }
}
