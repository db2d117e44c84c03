import ArgumentParser
import AvalonConfig

struct EchoConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "avalon-echo-config",
        abstract: "Print the default configuration file, every setting commented.",
        discussion: "Save the output, edit it, and point AVALON_CONFIG at it.",
        version: avalonVersion)

    @Flag(name: .customShort("V"), help: "Print the version and exit.")
    var showVersion = false

    func run() {
        print(showVersion ? avalonVersion : Config.defaultFile(), terminator: showVersion ? "\n" : "")
    }
}

EchoConfig.main()
