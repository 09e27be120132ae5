// swift-tools-version:6.1
//
// vrrpd / vtysh: a simulated L3-switch control plane.
//
// Targets are split by responsibility; see docs/architecture.md for what may import what.
import PackageDescription

let package = Package(
    name: "vrrpd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vrrpd", targets: ["vrrpd"]),
        .executable(name: "vtysh", targets: ["vtysh"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // Shared value types of every layer: addresses (IPv4, IPv6, MAC), interface identities (InterfaceID), VRIDs, the internet checksum.
        .target(name: "NetTypes"),
        // The one time: a monotonic `Instant`, `Swift.Duration` as the one duration, a wall clock
        // for printed times, the `Clock` every service is handed (`SystemClock`, `TestClock`).
        // Glibc only, like Channel: vtysh reads its deadlines from it.
        .target(name: "Time"),
        // Linux calls Swift cannot reach (gettid, thread names, CRC32C instruction).
        .target(name: "CLinux"),
        // The CLI grammar: token types, command declarations, the matcher, help, completion and
        // running-config rendering. Pure; shared by the daemon and the tests. What a line may
        // contain is Channel's rule (LineSafety), shared with vtysh.
        .target(name: "CLI", dependencies: ["NetTypes", "Channel"]),
        // The simulated switch SDK: chip profiles, the L2 table, ports and VLANs, the RX path and
        // its worker threads, ranked locks. Knows nothing of the CLI or the daemon.
        .target(
            name: "SwitchHAL",
            dependencies: ["NetTypes", "CLinux", "Time", .product(name: "Atomics", package: "swift-atomics")]
        ),
        // The VRRP protocol core (v2/v3, IPv4/IPv6): codec, checksums, state machine, timers.
        // Pure: events and time in, actions out; no sockets, no clock.
        .target(name: "VRRP", dependencies: ["NetTypes", "Time"]),
        // NAT: the configuration model (access lists, pools, static mappings, dynamic rules,
        // timeouts) and the translation engine with its tracer. Pure: packets and time (Instants) in,
        // translations and HAL entries out.
        .target(
            name: "NAT",
            dependencies: ["NetTypes", "Time", .product(name: "HashTreeCollections", package: "swift-collections")]),
        // Frames: Ethernet/802.1Q, IPv4, IPv6, ARP, neighbour advertisements. Pure.
        .target(name: "Packets", dependencies: ["NetTypes"]),
        // Port backends: a port is a UDP tunnel (udp), a Linux interface (linux, AF_PACKET), or an
        // in-process wire (sim).
        .target(
            name: "Ports",
            dependencies: [
                "SwitchHAL", "CLinux", "Time", .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),
        // The command channel: frame codec, limits, socket paths, and the blocking client vtysh uses.
        // Glibc only, so that vtysh starts in about a millisecond.
        .target(name: "Channel", dependencies: ["Time"]),
        // GNU readline, for vtysh.
        .systemLibrary(name: "CReadline", providers: [.apt(["libreadline-dev"])]),
        // The control plane: sessions, command handlers, running/startup configuration, the socket server.
        .target(
            name: "Daemon",
            dependencies: [
                "CLI", "Channel", "NetTypes", "SwitchHAL", "CLinux", "VRRP", "NAT", "Packets", "Ports", "Time",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        .executableTarget(
            name: "vrrpd",
            dependencies: [
                "Daemon", "Channel", "SwitchHAL", "NetTypes",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "vtysh",
            dependencies: [
                "Channel", "CReadline", "Time",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // A statically linked Swift runtime cuts process start-up from ~5 ms to ~1 ms, and
            // vtysh is started once per command by scripts. Release builds only: the test bundle
            // links this target's code and must use the shared runtime.
            linkerSettings: [
                .unsafeFlags(
                    ["-static-stdlib", "-Xlinker", "-l_FoundationCollections", "-Xlinker", "-l_FoundationCShims",
                     "-Xlinker", "-lswiftSynchronization"],
                    .when(configuration: .release))
            ]
        ),
        // HAL benchmarks (scripts/bench-hal runs the release build).
        .executableTarget(name: "hal-bench", dependencies: ["SwitchHAL", "NetTypes", "Time"]),
        // NAT benchmarks: the engine and the HAL NAT table at 100,000 translations (scripts/bench-nat).
        .executableTarget(name: "nat-bench", dependencies: ["Daemon", "NAT", "SwitchHAL", "NetTypes", "Time"]),
        // The fuzzers (scripts/fuzz builds them with libFuzzer and AddressSanitizer); in other
        // builds a replayer of their inputs.
        .executableTarget(
            name: "fuzz", dependencies: ["Daemon", "CLI", "Channel", "Packets", "VRRP", "SwitchHAL", "NetTypes", "Time"]),
        .testTarget(name: "CLITests", dependencies: ["CLI"]),
        .testTarget(name: "VRRPTests", dependencies: ["VRRP", "NetTypes", "TestSupport", "Time"]),
        .testTarget(name: "TimeTests", dependencies: ["Time"]),
        .testTarget(
            name: "NATTests",
            dependencies: ["NAT", "NetTypes", "TestSupport", "Time", .product(name: "HashTreeCollections", package: "swift-collections")]),
        .testTarget(
            name: "SwitchHALTests",
            dependencies: ["SwitchHAL", "NetTypes", "TestSupport", "Time", .product(name: "Atomics", package: "swift-atomics")]),
        .testTarget(name: "ChannelTests", dependencies: ["Channel", "TestSupport"]),
        .testTarget(name: "PacketsTests", dependencies: ["Packets", "NetTypes"]),
        .testTarget(
            name: "PortsTests",
            dependencies: ["Ports", "SwitchHAL", "Packets", "NetTypes", "TestSupport", "Time", .product(name: "Atomics", package: "swift-atomics")]),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Daemon", "CLI", "Channel", "NAT", "NetTypes", "SwitchHAL", "VRRP", "TestSupport", "Time",
                .product(name: "HashTreeCollections", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Test helpers: temporary directories; programs started on a pseudo-terminal.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .target(name: "CPtySupport", path: "Tests/CPtySupport"),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Channel", "CPtySupport", "TestSupport", "NetTypes", "Packets", "VRRP", "Time", "vrrpd", "vtysh", "hal-bench"]),
    ]
)
