import Foundation
import Glibc

// The fuzzers' driver. Built by scripts/fuzz with coverage and AddressSanitizer (-DFUZZING):
//   fuzz TARGET [libFuzzer options] [CORPUS...]     libFuzzer on one target
// In every other build it replays inputs (a finding's file, a corpus) through a target:
//   fuzz TARGET FILE|DIR...
//   fuzz --list
// With $FUZZ_TARGET set, the target is that and every argument is libFuzzer's (libFuzzer starts
// its -jobs workers again with its own arguments only).

nonisolated(unsafe) var selected: FuzzTarget!

func usage() -> Never {
    report("usage: fuzz TARGET [libFuzzer options | FILE|DIR ...]\n       fuzz --list\ntargets:\n")
    for target in FuzzTargets.all { report("  \(target.name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(target.summary)\n") }
    exit(2)
}

var arguments = CommandLine.arguments
if let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] {
    arguments.insert(name, at: 1)
}
guard arguments.count >= 2 else { usage() }
if arguments[1] == "--list" {
    for target in FuzzTargets.all { print(target.name) }
    exit(0)
}
guard let target = FuzzTargets.named(arguments[1]) else { usage() }
selected = target

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

// libFuzzer sees the program name and what follows the target's name.
var forwarded = [arguments[0]] + arguments.dropFirst(2)
var cStrings: [UnsafeMutablePointer<CChar>?] = forwarded.map { strdup($0) } + [nil]
var argc = Int32(forwarded.count)
let status = cStrings.withUnsafeMutableBufferPointer { buffer -> Int32 in
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        selected.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
exit(status)
#else
var files: [String] = []
for path in arguments.dropFirst(2) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        report("fuzz: \(path): no such file or directory\n")
        exit(2)
    }
    if isDirectory.boolValue {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        files += names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
    } else {
        files.append(path)
    }
}
for file in files {
    guard let data = FileManager.default.contents(atPath: file) else {
        report("fuzz: cannot read \(file)\n")
        exit(2)
    }
    data.withUnsafeBytes { selected.run($0) }
}
print("fuzz \(target.name): \(files.count) input(s) replayed, no finding")
#endif
