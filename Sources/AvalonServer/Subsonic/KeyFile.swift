import AvalonConfig
import Glibc

/// The operator's side of the apiKeyAuthentication extension: keys are made,
/// listed and revoked in SUBSONIC_API_KEYS_FILE; the server reads them at
/// start and on reload (SIGHUP).
public enum SubsonicKeyFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `new USER`, `revoke KEY` or `list`; returns the exit status.
    public static func main(_ args: [String], config: Config) -> Int32 {
        do {
            guard let path = config.subsonicAPIKeysFile else {
                throw Failure(description: "SUBSONIC_API_KEYS_FILE is not set: set it (in AVALON_CONFIG or the environment) to the file of API keys")
            }
            var keys = try SubsonicAccounts.readPairs(path, setting: "SUBSONIC_API_KEYS_FILE", what: "key:username", missingIsEmpty: true)
            switch (args.first, args.count) {
            case ("new", 2):
                let user = args[1]
                if let users = try SubsonicAccounts.load(config), !users.users.contains(where: { $0.name.elementsEqual(user.utf8) }) {
                    throw Failure(description: "no user '\(user)' in SUBSONIC_USERS_FILE; add name:password there first")
                }
                var rng = SystemRandomNumberGenerator()
                let key = (0..<32).map { _ in String(UInt8.random(in: 0...255, using: &rng), radix: 16).leftPadded(2) }.joined()
                keys.append((key, user))
                try write(keys, to: path)
                print(key)
                print("key added for \(user); reload the server (SIGHUP) to accept it", to: &standardError)
            case ("revoke", 2):
                let before = keys.count
                keys.removeAll { $0.0 == args[1] }
                guard keys.count < before else { throw Failure(description: "no such key in \(path)") }
                try write(keys, to: path)
                print("key revoked; reload the server (SIGHUP) to refuse it", to: &standardError)
            case ("list", 1):
                // Users and the first characters of their keys: enough to tell them apart.
                for (k, u) in keys { print("\(u) \(k.prefix(6))…") }
            default:
                throw Failure(description: "usage: avalon-subsonic-key new USER | revoke KEY | list")
            }
            return 0
        } catch {
            print("avalon-subsonic-key: \(error)", to: &standardError)
            return 1
        }
    }

    /// Replaces the file: a new one beside it (O_EXCL, owner-only), then rename.
    static func write(_ keys: [(String, String)], to path: String) throws {
        let tmp = path + ".new-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        let text = Array(keys.map { "\($0.0):\($0.1)\n" }.joined().utf8)
        let ok = text.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count) } == text.count && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ s: String) { fputs(s, stderr) }
}

nonisolated(unsafe) var standardError = StandardError()

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
