import CSystem

/// The release; `/version` answers it, and the old server's clients read it.
public let avalonVersion = "1.0.0"

/// What the build stamped in (the release scripts pass the git commit and
/// date; a plain `swift build` leaves "unknown").
public enum BuildInfo {
    public static let commit = String(cString: avalon_build_commit())
    public static let date = String(cString: avalon_build_date())

    /// The compiler's version: the runtime does not expose one.
    public static var swiftVersion: String {
        #if compiler(>=6.4)
        return "6.4 or later"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #else
        return "6.0"
        #endif
    }
}
