@_spi(_Unicode) import Swift

/// Python's `str.isspace()`: category Zs or bidirectional class WS/B/S.
/// Differs from Unicode White_Space (e.g. U+001C…U+001F count here), and
/// search tokens must split exactly where the old server split them.
@inline(__always)
public func isPythonWhitespace(_ v: UInt32) -> Bool {
    switch v {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A,
         0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

/// A byte with A-Z lowered: Python's `lower()` of an ASCII character.
@inline(__always)
func asciiLowered(_ b: UInt8) -> UInt8 { b &- 0x41 < 26 ? b | 0x20 : b }

/// `pythonLowercased` of UTF-8 `name`, appended to `out`: an ASCII name (most
/// are) a byte at a time, with no String made.
func appendPythonLowercased(_ name: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
    if !name.contains(where: { $0 >= 0x80 }) {
        for b in name { out.append(asciiLowered(b)) }
    } else {
        out.append(contentsOf: pythonLowercased(String(decoding: name, as: UTF8.self)).utf8)
    }
}

/// Python's `str.lower()`: full lower-case mappings plus the final-sigma rule,
/// which Swift's `lowercased()` does not apply.
public func pythonLowercased(_ s: String) -> String {
    var ascii = true
    for b in s.utf8 where b >= 0x80 { ascii = false; break }
    if ascii { return s.lowercased() }
    let scalars = Array(s.unicodeScalars)
    var out = String.UnicodeScalarView()
    for (i, c) in scalars.enumerated() {
        if c.value == 0x3A3 {
            out.append(Unicode.Scalar(isFinalSigma(scalars, i) ? 0x3C2 : 0x3C3)!)
        } else if c.value < 0x80 {
            out.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32)! : c)
        } else {
            out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
        }
    }
    return String(out)
}

/// CPython's handle_capital_sigma: preceded by a cased letter (skipping
/// case-ignorables) and not followed by one.
private func isFinalSigma(_ s: [Unicode.Scalar], _ i: Int) -> Bool {
    var j = i - 1
    while j >= 0, s[j].properties.isCaseIgnorable { j -= 1 }
    guard j >= 0, s[j].properties.isCased else { return false }
    j = i + 1
    while j < s.count, s[j].properties.isCaseIgnorable { j += 1 }
    return j == s.count || !s[j].properties.isCased
}

/// The old server's `searchable()`: NFD, drop non-spacing marks, lower-case,
/// trim Python whitespace.
public func searchable(_ s: String) -> String {
    var ascii = true
    for b in s.utf8 where b >= 0x80 { ascii = false; break }
    var text: String
    if ascii {
        text = s.lowercased()
    } else {
        var stripped = String.UnicodeScalarView()
        for c in s._nfd where c.properties.generalCategory != .nonspacingMark {
            stripped.append(c)
        }
        text = pythonLowercased(String(stripped))
    }
    let sc = text.unicodeScalars
    guard let first = sc.firstIndex(where: { !isPythonWhitespace($0.value) }) else { return "" }
    let last = sc.lastIndex(where: { !isPythonWhitespace($0.value) })!
    return String(sc[first...last])
}

/// Python's `str.split()` with no separator: runs of whitespace split, ends ignored.
public func pythonWords(_ s: String) -> [Substring] {
    var words: [Substring] = []
    let sc = s.unicodeScalars
    var start: String.UnicodeScalarView.Index? = nil
    var i = sc.startIndex
    while i < sc.endIndex {
        if isPythonWhitespace(sc[i].value) {
            if let st = start { words.append(Substring(sc[st..<i])); start = nil }
        } else if start == nil {
            start = i
        }
        i = sc.index(after: i)
    }
    if let st = start { words.append(Substring(sc[st..<sc.endIndex])) }
    return words
}

/// `searchable()` of ASCII text, appended to `out`: lowered and trimmed as
/// bytes. False, with nothing appended, when the text is not ASCII. Loops
/// without early exits, which the compiler vectorizes: a load runs this on
/// every song name (it took ~30 instructions a byte, appended one at a time).
func appendSearchableASCII(_ text: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) -> Bool {
    var any: UInt8 = 0
    for b in text { any |= b }
    if any >= 0x80 { return false }
    var lo = 0, hi = text.count
    while lo < hi && isASCIIWhitespace(text[lo]) { lo += 1 }
    while hi > lo && isASCIIWhitespace(text[hi - 1]) { hi -= 1 }
    let from = out.count
    out.append(contentsOf: UnsafeBufferPointer(rebasing: text[lo..<hi]))
    out.withUnsafeMutableBufferPointer { o in
        for i in from..<o.count {
            let b = o[i]
            o[i] = asciiLowered(b)
        }
    }
    return true
}

/// `isPythonWhitespace` of an ASCII byte: 0x09–0x0D, 0x1C–0x20.
@inline(__always)
func isASCIIWhitespace(_ b: UInt8) -> Bool { b <= 0x20 && (UInt64(0x1_F000_3E00) >> UInt64(b)) & 1 != 0 }

/// `searchable()` of a UTF-8 name into `term`, with the byte ranges of its
/// words. ASCII names, the common case, take a path with no String at all.
func searchableBytes(_ name: UnsafeBufferPointer<UInt8>, into term: inout [UInt8], words: inout [Range<Int>]) {
    term.removeAll(keepingCapacity: true)
    words.removeAll(keepingCapacity: true)
    if appendSearchableASCII(name, to: &term) {
        term.withUnsafeBufferPointer { t in
            var start = -1
            for pos in 0..<t.count {
                if isASCIIWhitespace(t[pos]) {
                    if start >= 0 { words.append(start..<pos); start = -1 }
                } else if start < 0 {
                    start = pos
                }
            }
            if start >= 0 { words.append(start..<t.count) }
        }
        return
    }
    let s = searchable(String(decoding: name, as: UTF8.self))
    var start = -1
    for c in s.unicodeScalars {
        let pos = term.count
        UTF8.encode(c) { term.append($0) }
        if isPythonWhitespace(c.value) {
            if start >= 0 { words.append(start..<pos); start = -1 }
        } else if start < 0 {
            start = pos
        }
    }
    if start >= 0 { words.append(start..<term.count) }
}

/// The searchable form of a query as bytes.
public func searchableQuery(_ q: String) -> [UInt8] {
    var q = q
    var out: [UInt8] = []
    // ASCII queries, the common case, are lowered and trimmed as bytes.
    let ascii = q.withUTF8 { b in
        out.reserveCapacity(b.count)
        return appendSearchableASCII(b, to: &out)
    }
    let normalised = ascii ? out : Array(searchable(q).utf8)
    // SearchIndex ends each text with 0xFF and compares queries against it as
    // bytes: a query holding 0xFF would match past a text's end. A String is
    // valid UTF-8, which never holds 0xFF (raw %FF in a URL decodes to U+FFFD);
    // checked here, where every query passes, so the index can rely on it.
    precondition(!normalised.contains(SearchIndex.terminator), "a normalised query holds the index terminator")
    return normalised
}

extension String {
    /// Without leading and trailing white space.
    public func trimmingWhitespace() -> String {
        var sub = Substring(self)
        while let f = sub.first, f.isWhitespace { sub.removeFirst() }
        while let l = sub.last, l.isWhitespace { sub.removeLast() }
        return String(sub)
    }
}
