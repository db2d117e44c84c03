/// Python `int()` restricted as docs/API.md says: optional surrounding whitespace, an
/// optional sign, ASCII digits; out-of-range values clamp to 64 bits.
public func parseInteger(_ s: String) -> Int64? {
    if let v = parseASCIIInteger(s) { return v }
    let sc = Array(s.unicodeScalars)
    var lo = 0, hi = sc.count
    while lo < hi && isPythonWhitespace(sc[lo].value) { lo += 1 }
    while hi > lo && isPythonWhitespace(sc[hi - 1].value) { hi -= 1 }
    var negative = false
    if lo < hi && (sc[lo] == "+" || sc[lo] == "-") { negative = sc[lo] == "-"; lo += 1 }
    guard lo < hi else { return nil }
    var v: Int64 = 0
    var overflow = false
    for i in lo..<hi {
        guard sc[i].value >= 0x30 && sc[i].value <= 0x39 else { return nil }
        let d = Int64(sc[i].value - 0x30)
        if !overflow {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(d)
            if o1 || o2 { overflow = true } else { v = a }
        }
    }
    if overflow { return negative ? Int64.min : Int64.max }
    return negative ? -v : v
}

/// `parseInteger` of a short ASCII value without allocating: nil when the
/// value needs the general path (non-ASCII, long or not an integer).
private func parseASCIIInteger(_ s: String) -> Int64?? {
    var s = s
    return s.withUTF8 { b -> Int64?? in
        guard b.count <= 18, !b.contains(where: { $0 >= 0x80 }) else { return nil }  // 18 digits cannot overflow
        var lo = 0, hi = b.count
        while lo < hi && isPythonWhitespace(UInt32(b[lo])) { lo += 1 }
        while hi > lo && isPythonWhitespace(UInt32(b[hi - 1])) { hi -= 1 }
        var negative = false
        if lo < hi && (b[lo] == UInt8(ascii: "+") || b[lo] == UInt8(ascii: "-")) { negative = b[lo] == UInt8(ascii: "-"); lo += 1 }
        guard lo < hi else { return nil }
        var v: Int64 = 0
        for i in lo..<hi {
            guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
            v = v * 10 + Int64(b[i] - 0x30)
        }
        return .some(negative ? -v : v)
    }
}
