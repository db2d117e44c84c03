// Paths go into four syntaxes (nginx, systemd, sh, TOML); each is quoted by
// that syntax's own rules, so a folder named `my server's "root"` stays one word.

/// A word for sh: single quotes; a quote inside becomes '\''.
func shellQuote(_ s: String) -> String {
    "'" + s.replacingAll("'", with: "'\\''") + "'"
}

/// A string for nginx's configuration: double quotes; nginx's parser turns
/// `\"` and `\\` back into `"` and `\`. (A `$` cannot be escaped: paths with one
/// are refused before this.)
func nginxQuote(_ s: String) -> String {
    "\"" + s.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
}

/// One word of a systemd command line (ExecStart=): double quotes with C
/// escapes; `%` (specifiers) and `$` (variables) doubled, as systemd expands
/// both before it splits the line.
func systemdWord(_ s: String) -> String {
    "\"" + systemdText(s).replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"").replacingAll("$", with: "$$") + "\""
}

/// A systemd command line. systemd refuses a program path holding a quote or
/// a backslash (any argument may), so such a program is started through sh.
func systemdCommand(_ program: String, _ args: [String]) -> String {
    let words = ([program] + args).map(systemdWord).joined(separator: " ")
    guard program.contains(where: { "\"'\\".contains($0) }) else { return words }
    return "/bin/sh -c 'exec \"$$0\" \"$$@\"' " + words
}

/// A systemd value taken as it stands (Description=, PIDFile=): only `%` is special.
func systemdText(_ s: String) -> String { s.replacingAll("%", with: "%%") }

/// An Environment= assignment: quoted like a word, but systemd expands no `$` there.
func systemdAssignment(_ name: String, _ value: String) -> String {
    "\"" + systemdText(name + "=" + value).replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
}

/// Characters no syntax here can carry: control characters (a newline ends a
/// line in all four), and for nginx a `$` (it would read a variable).
func checkPathCharacters(_ path: String, what: String, inNginx: Bool) throws {
    if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
        // Shown escaped: the error stays one line.
        let shown = path.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "\\x" + String($0.value, radix: 16) : String($0) }.joined()
        throw ExpressError("\(what) \(shown) has a control character (a newline or tab) that configuration files cannot hold: rename it")
    }
    if inNginx && path.contains("$") {
        throw ExpressError("\(what) \(path) has a $, which nginx reads as a variable: pass --server-root with a folder without one")
    }
}

extension String {
    func replacingAll(_ a: Character, with b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}
