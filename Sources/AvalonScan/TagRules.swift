import AvalonCore

/// The rules for turning raw tag strings into numbers (README, "Scanning rules").
public enum TagRules {
    /// Leading integer of a track tag: "3", "03", "3/12" → 3; absent → 0;
    /// unparseable → nil (the caller warns and stores 0).
    public static func track(_ raw: String?) -> Int64?? {
        guard let raw else { return .some(0) }
        let s = raw.trimmingWhitespace()
        if s.isEmpty { return .some(0) }
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return .none }
        let rest = s.dropFirst(digits.count)
        guard rest.isEmpty || rest.first == "/" else { return .none }
        return .some(clampedInt(digits))
    }

    /// Year of a date tag: "1999", "1999-06-12", "1999-06-12 10:11:12",
    /// "1999-06-12T10:11:12" → 1999; absent → 0; unparseable → nil.
    public static func year(_ raw: String?) -> Int64?? {
        guard let raw else { return .some(0) }
        let s = raw.trimmingWhitespace()
        if s.isEmpty { return .some(0) }
        if s.allSatisfy({ $0.isASCII && $0.isNumber }) { return .some(clampedInt(Substring(s))) }
        let b = Array(s.utf8)
        func digits(_ r: Range<Int>) -> Bool { r.upperBound <= b.count && r.allSatisfy { b[$0] >= 48 && b[$0] <= 57 } }
        func at(_ i: Int, _ c: Character) -> Bool { i < b.count && b[i] == c.asciiValue! }
        // YYYY-MM, YYYY-MM-DD, then an optional time after ' ' or 'T'.
        guard digits(0..<4), at(4, "-"), digits(5..<7) else { return .none }
        var ok = b.count == 7
        if !ok, at(7, "-"), digits(8..<10) {
            ok = b.count == 10
            if !ok, at(10, " ") || at(10, "T"), digits(11..<13), at(13, ":"), digits(14..<16) {
                ok = b.count == 16 || (at(16, ":") && digits(17..<19) && b.count == 19)
            }
        }
        guard ok else { return .none }
        return .some(Int64(String(decoding: b[0..<4], as: UTF8.self))!)
    }

    static func clampedInt(_ digits: Substring) -> Int64 {
        var v: Int64 = 0
        for c in digits.utf8 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - 48))
            if o1 || o2 { return Int64.max }
            v = a
        }
        return v
    }
}

