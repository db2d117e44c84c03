// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "Avalon",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "avalon-fcgi", targets: ["avalon-fcgi"]),
        .executable(name: "avalon-scan", targets: ["avalon-scan"]),
        .executable(name: "avalon-echo-config", targets: ["avalon-echo-config"]),
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
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "CTagLib", cxxSettings: [.unsafeFlags(["-I/usr/include/taglib"])],
                linkerSettings: [.linkedLibrary("tag"), .linkedLibrary("stdc++")]),

        .target(name: "AvalonCore", dependencies: ["CCrypto"]),
        .target(name: "AvalonStore", dependencies: ["AvalonCore", "CSQLite", "CPostgres"]),
        .target(name: "AvalonScan", dependencies: ["AvalonCore", "AvalonStore", "CTagLib"]),
        .target(name: "AvalonServer", dependencies: [
            "AvalonCore", "AvalonStore", "CFastCGI", "CCurl", .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "avalon-fcgi", dependencies: [
            "AvalonServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "avalon-scan", dependencies: [
            "AvalonScan", "AvalonServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "avalon-echo-config", dependencies: [
            "AvalonServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "avalon-bench", dependencies: ["AvalonCore", "AvalonStore", "AvalonScan", "AvalonServer"]),

        .testTarget(name: "AvalonCoreTests", dependencies: ["AvalonCore"]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "AvalonStoreTests", dependencies: ["AvalonStore", "TestSupport"], resources: [.copy("Golden")]),
        .testTarget(name: "AvalonScanTests", dependencies: ["AvalonScan", "AvalonStore", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AvalonServerTests", dependencies: ["AvalonServer", "AvalonScan", "TestSupport"]),
    ]
)
