// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Avalon",
    products: [
        .executable(name: "avalon-fcgi", targets: ["avalon-fcgi"]),
        .executable(name: "avalon-scan", targets: ["avalon-scan"]),
        .executable(name: "avalon-echo-config", targets: ["avalon-echo-config"]),
        .executable(name: "avalon-express", targets: ["avalon-express"]),
        .executable(name: "avalon-subsonic-key", targets: ["avalon-subsonic-key"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C libraries, each behind the smallest possible shim.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CFastCGI", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "CSystem"),
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "CTagLib", cxxSettings: [.unsafeFlags(["-I/usr/include/taglib"])],
                linkerSettings: [.linkedLibrary("tag"), .linkedLibrary("stdc++"), .linkedLibrary("crypto")]),

        .target(name: "AvalonCore", dependencies: ["CCrypto"]),
        .target(name: "AvalonStore", dependencies: ["AvalonCore", "CSQLite", "CPostgres", "CSystem"]),
        .target(name: "AvalonScan", dependencies: ["AvalonCore", "AvalonStore", "CTagLib"]),
        // Tag writing, for tests and avalon-bench only.
        .target(name: "CTagWriter", cxxSettings: [.unsafeFlags(["-I/usr/include/taglib"])],
                linkerSettings: [.linkedLibrary("tag"), .linkedLibrary("stdc++")]),
        .target(name: "AvalonTagWriter", dependencies: ["CTagWriter"]),
        .target(name: "AvalonConfig", dependencies: ["AvalonCore", "AvalonStore", "CSystem"]),
        .target(name: "AvalonServer", dependencies: [
            "AvalonConfig", "AvalonCore", "AvalonStore", "CCrypto", "CFastCGI", "CCurl", "CSystem", .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "avalon-fcgi", dependencies: [
            "AvalonServer", "AvalonConfig", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "avalon-scan", dependencies: [
            "AvalonScan", "AvalonConfig", "AvalonCore", "AvalonStore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The rootless start: configuration for nginx and avalon-fcgi in a server root, and both run.
        .target(name: "AvalonExpress", dependencies: [
            "AvalonConfig", "AvalonCore", "AvalonScan", "AvalonStore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "avalon-express", dependencies: [
            "AvalonExpress", "AvalonConfig", "AvalonStore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The operator's API keys for the Subsonic API: make, revoke, list.
        .executableTarget(name: "avalon-subsonic-key", dependencies: ["AvalonServer", "AvalonConfig"]),
        .executableTarget(name: "avalon-echo-config", dependencies: [
            "AvalonConfig", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Test conveniences (routing a request given as strings, whole-collection
        // writes, the reference tokenizer) live in TestSupport, which the bench shares.
        .executableTarget(name: "avalon-bench", dependencies: ["AvalonCore", "AvalonStore", "AvalonScan", "AvalonServer", "AvalonTagWriter", "CSystem", "TestSupport"]),

        .testTarget(name: "AvalonCoreTests", dependencies: ["AvalonCore", "TestSupport"]),
        .target(name: "TestSupport", dependencies: ["AvalonCore", "AvalonStore", "AvalonServer"], path: "Tests/TestSupport"),
        .testTarget(name: "AvalonStoreTests", dependencies: ["AvalonStore", "CSystem", "TestSupport"], resources: [.copy("Golden")]),
        .testTarget(name: "AvalonScanTests", dependencies: ["AvalonScan", "AvalonStore", "AvalonTagWriter", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AvalonServerTests", dependencies: ["AvalonServer", "AvalonConfig", "AvalonScan", "AvalonTagWriter", "TestSupport"]),
        .testTarget(name: "AvalonExpressTests", dependencies: ["AvalonExpress", "AvalonStore", "AvalonTagWriter", "TestSupport"]),
    ],
    // Swift 6 toolchains; the code predates strict concurrency checking.
    swiftLanguageModes: [.v5]
)
