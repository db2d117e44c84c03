/// The `NAME = value` subset of TOML that settings files use (and that a
/// simple line of the old Python settings file already is): quoted strings,
/// integers, comments.
struct ConfigEntry: Equatable {
    enum Value: Equatable { case string(String), integer(Int), number(Double), boolean(Bool) }
    let name: String
    let value: Value
    let line: Int
}

func parseConfigFile(_ text: String, path: String) throws -> [ConfigEntry] {
    var entries: [ConfigEntry] = []
    var lineNo = 0
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
        lineNo += 1
        func fail(_ why: String) -> Config.Invalid { Config.Invalid(description: "\(path):\(lineNo): \(why)") }
        var line = Substring(rawLine)
        if line.hasSuffix("\r") { line.removeLast() }
        let chars = Array(line.unicodeScalars)
        var i = 0
        func skipSpace() { while i < chars.count && (chars[i] == " " || chars[i] == "\t") { i += 1 } }
        skipSpace()
        if i == chars.count || chars[i] == "#" { continue }
        let nameStart = i
        while i < chars.count && (chars[i].properties.isAlphabetic || chars[i] == "_" || ("0"..."9").contains(chars[i])) { i += 1 }
        guard i > nameStart else { throw fail("expected NAME = value") }
        let name = String(String.UnicodeScalarView(chars[nameStart..<i]))
        skipSpace()
        guard i < chars.count && chars[i] == "=" else { throw fail("expected '=' after \(name)") }
        i += 1
        skipSpace()
        guard i < chars.count else { throw fail("\(name) has no value") }
        let value: ConfigEntry.Value
        if chars[i] == "'" || chars[i] == "\"" {
            let quote = chars[i]
            i += 1
            var s = String.UnicodeScalarView()
            var closed = false
            while i < chars.count {
                let c = chars[i]
                i += 1
                if c == quote { closed = true; break }
                if c == "\\" && quote == "\"" {
                    guard i < chars.count else { break }
                    let e = chars[i]
                    i += 1
                    switch e {
                    case "n": s.append("\n")
                    case "t": s.append("\t")
                    case "r": s.append("\r")
                    case "\\": s.append("\\")
                    case "\"": s.append("\"")
                    default: throw fail("unknown escape \\\(e) in \(name)")
                    }
                } else {
                    s.append(c)
                }
            }
            guard closed else { throw fail("unterminated string in \(name)") }
            value = .string(String(s))
        } else {
            let start = i
            while i < chars.count && chars[i] != " " && chars[i] != "\t" && chars[i] != "#" { i += 1 }
            let word = String(String.UnicodeScalarView(chars[start..<i])).replacingUnderscores()
            if let n = Int(word) {
                value = .integer(n)
            } else if word == "true" || word == "false" {
                value = .boolean(word == "true")
            } else if let d = Double(word), d.isFinite, word.contains(".") {
                value = .number(d)
            } else {
                let got = Config.secretBearing.contains(name) ? "not shown: it may hold a secret" : "got " + String(String.UnicodeScalarView(chars[start..<i]))
                throw fail("\(name): value must be a quoted string, a number, true or false (\(got))")
            }
        }
        skipSpace()
        guard i == chars.count || chars[i] == "#" else { throw fail("unexpected text after the value of \(name)") }
        if entries.contains(where: { $0.name == name }) { throw fail("\(name) is set twice") }
        entries.append(ConfigEntry(name: name, value: value, line: lineNo))
    }
    return entries
}

private extension String {
    /// TOML allows underscores between digits.
    func replacingUnderscores() -> String {
        let parts = split(separator: "_", omittingEmptySubsequences: false)
        if parts.count > 1 && parts.allSatisfy({ !$0.isEmpty }) { return parts.joined() }
        return self
    }
}
