/// Python's `os.path.normpath` for POSIX paths: song ids hash the path in
/// exactly this form, so it must match the old scanner's.
public func normalizePath(_ path: String) -> String {
    if path.isEmpty { return "." }
    let absolute = path.hasPrefix("/")
    // POSIX keeps a leading "//" (exactly two slashes) as it is.
    let initial = absolute ? (path.hasPrefix("//") && !path.hasPrefix("///") ? "//" : "/") : ""
    var parts: [Substring] = []
    for comp in path.split(separator: "/", omittingEmptySubsequences: true) {
        if comp == "." { continue }
        if comp == ".." {
            if let last = parts.last, last != ".." {
                parts.removeLast()
            } else if !absolute {
                parts.append(comp)
            }
            continue
        }
        parts.append(comp)
    }
    let joined = initial + parts.joined(separator: "/")
    return joined.isEmpty ? "." : joined
}

/// Python's `os.path.join(root, relative)` for a relative second part.
public func joinPath(_ root: String, _ relative: String) -> String {
    if root.isEmpty || root.hasSuffix("/") { return root + relative }
    return root + "/" + relative
}
