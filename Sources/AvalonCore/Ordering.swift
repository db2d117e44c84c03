/// Ordering and paging a selection: walks of the orders prepared at load,
/// or a top-k heap for small pages of large selections.
extension MusicCollection {
    /// The page of `selection` in the order of `key`. Whole lists and large
    /// selections walk the order prepared at load; small ones are sorted by key.
    func ordered(_ selection: Selection, total: Int, paging: Paging, globalOrder: [UInt32],
                 key: (UInt32) -> UInt64) -> [UInt32] {
        var list: [UInt32]
        switch selection {
        case .all:
            let win = paging.window(total)
            return paging.descending ? win.map { globalOrder[total - 1 - $0] } : win.map { globalOrder[$0] }
        case .bits(let set):
            let count = set.count
            if count * 8 > total { return walk(globalOrder, set, count, paging) }
            list = set.members(0..<count)
        case .list(let l):
            if l.count * 8 > total { return walk(globalOrder, Bitmap(l, capacity: total), l.count, paging) }
            list = l
        }
        let win = paging.window(list.count)
        if win.isEmpty { return [] }
        // A small page of many matches: keep only the best offset+limit.
        if win.upperBound * 8 <= list.count {
            return Array(topK(list, win.upperBound, descending: paging.descending, key: key)[win])
        }
        var keyed = list.map { (key($0), $0) }
        if paging.descending {
            keyed.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 > $1.1 }
        } else {
            keyed.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        }
        return keyed[win].map(\.1)
    }

    /// The first `k` of `list` in the order of (key, position), as the full
    /// sort would give them (same ties): a bounded heap whose root is the
    /// worst kept, so each further item costs one comparison unless it wins.
    func topK(_ list: [UInt32], _ k: Int, descending: Bool, key: (UInt32) -> UInt64) -> [UInt32] {
        guard k > 0 else { return [] }
        // `a` comes before `b` in the answer.
        @inline(__always) func before(_ a: (UInt64, UInt32), _ b: (UInt64, UInt32)) -> Bool {
            descending ? (a.0 != b.0 ? a.0 > b.0 : a.1 > b.1) : (a.0 != b.0 ? a.0 < b.0 : a.1 < b.1)
        }
        var heap: [(UInt64, UInt32)] = []
        heap.reserveCapacity(k)
        for s in list {
            let item = (key(s), s)
            if heap.count < k {
                // Sift up: a parent comes after its children in the answer.
                heap.append(item)
                var i = heap.count - 1
                while i > 0 {
                    let parent = (i - 1) / 2
                    guard before(heap[parent], heap[i]) else { break }
                    heap.swapAt(parent, i)
                    i = parent
                }
            } else if before(item, heap[0]) {
                heap[0] = item
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var worst = i
                    if l < k && before(heap[worst], heap[l]) { worst = l }
                    if r < k && before(heap[worst], heap[r]) { worst = r }
                    if worst == i { break }
                    heap.swapAt(i, worst)
                    i = worst
                }
            }
        }
        heap.sort(by: before)
        return heap.map(\.1)
    }

    /// The page of a large selection: the prepared order, skipping non-members.
    private func walk(_ order: [UInt32], _ set: Bitmap, _ count: Int, _ paging: Paging) -> [UInt32] {
        let win = paging.window(count)
        var out: [UInt32] = []
        if win.isEmpty { return out }
        out.reserveCapacity(win.count)
        var seen = 0
        let total = order.count
        for k in 0..<total {
            let s = order[paging.descending ? total - 1 - k : k]
            guard set.contains(s) else { continue }
            if seen >= win.lowerBound { out.append(s) }
            seen += 1
            if seen >= win.upperBound { break }
        }
        return out
    }
}

/// Which items a request selected, in whichever form was cheapest to make.
enum Selection {
    case all
    case list([UInt32])     // ascending
    case bits(Bitmap)

    /// The page in position order (the order without `order=`).
    func unordered(_ paging: Paging, total: Int) -> [UInt32] {
        switch self {
        case .all: return paging.window(total).map { UInt32($0) }
        case .list(let l): return Array(l[paging.window(l.count)])
        case .bits(let set): return set.members(paging.limit == nil ? 0..<Int.max : paging.window(Int.max))
        }
    }
}

