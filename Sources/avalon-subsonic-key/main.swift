import AvalonConfig
import AvalonServer
import Glibc

// avalon-subsonic-key new USER | revoke KEY | list: the Subsonic API's keys.
do {
    let config = try Config.load()
    exit(SubsonicKeyFile.main(Array(CommandLine.arguments.dropFirst()), config: config))
} catch {
    fputs("avalon-subsonic-key: \(error)\n", stderr)
    exit(1)
}
