import Glibc
import Time

/// What this process and each of its threads have used of the CPU, read from /proc every 5 s,
/// and its memory: what `show processes cpu` and `show memory statistics` print in IOS's
/// layout (the 5-second, 1-minute and 5-minute utilisation IOS shows; NAPALM's
/// get_environment reads them).
///
/// A state value: the driver (the control plane) reads /proc (`readProc`) and `record`s it on its
/// loop every `interval`; the show commands read what was recorded, never /proc again.
struct ProcessUsage {
    /// One reading of a thread (or of the whole process: `id` 0).
    struct Reading: Equatable {
        var at: Instant
        /// CPU time used since the thread started.
        var cpu: Duration
    }

    /// A thread as /proc names it now.
    struct Thread: Equatable {
        var id: Int
        var name: String
        var cpu: Duration
        /// Times it was scheduled in (voluntary and involuntary context switches).
        var invoked: Int
    }

    static let interval = Duration.seconds(5)
    /// Five minutes of readings, one every `interval`.
    static let kept = 61

    private(set) var process: [Reading] = []
    private(set) var threads: [Int: [Reading]] = [:]
    /// Each thread as last read (its name, CPU time and times scheduled), by id.
    private(set) var latest: [Int: Thread] = [:]
    /// CPUs the machine has: a percentage is of all of them (100% is every core busy).
    let cpus: Int

    init(cpus: Int = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))) { self.cpus = cpus }

    /// Records a reading of the process and of `threads` at `now`; threads that ended are
    /// forgotten.
    mutating func record(now: Instant, process cpu: Duration, threads current: [Thread]) {
        Self.append(Reading(at: now, cpu: cpu), to: &process)
        var seen = Set<Int>()
        for thread in current {
            seen.insert(thread.id)
            latest[thread.id] = thread
            Self.append(Reading(at: now, cpu: thread.cpu), to: &threads[thread.id, default: []])
        }
        for id in threads.keys where !seen.contains(id) {
            threads[id] = nil
            latest[id] = nil
        }
    }

    private static func append(_ reading: Reading, to readings: inout [Reading]) {
        readings.append(reading)
        if readings.count > kept { readings.removeFirst(readings.count - kept) }
    }

    /// The share of the machine's CPU used over the last `window` (or since the oldest reading,
    /// if that is more recent), from `readings`; 0 with fewer than two.
    func utilisation(_ readings: [Reading], over window: Duration) -> Double {
        guard let last = readings.last, readings.count >= 2 else { return 0 }
        let start = readings.last { last.at.duration(since: $0.at) >= window } ?? readings[0]
        let elapsed = last.at.duration(since: start.at)
        guard elapsed > .zero else { return 0 }
        return 100 * (last.cpu - start.cpu).inSeconds / elapsed.inSeconds / Double(cpus)
    }

    /// The utilisation over IOS's three windows.
    struct Load {
        var fiveSeconds: Double
        var oneMinute: Double
        var fiveMinutes: Double
    }

    func load(_ readings: [Reading]) -> Load {
        Load(fiveSeconds: utilisation(readings, over: .seconds(5)), oneMinute: utilisation(readings, over: .seconds(60)),
             fiveMinutes: utilisation(readings, over: .seconds(300)))
    }

    /// The whole process over 5 s, 1 min and 5 min.
    var processUtilisation: Load { load(process) }

    /// Each thread as last read, with its load, by id.
    var threadLoads: [(thread: Thread, load: Load)] {
        latest.values.sorted { $0.id < $1.id }.map { ($0, load(threads[$0.id] ?? [])) }
    }
}

extension ProcessUsage {
    /// This process's CPU time and its threads, from /proc (nil if it cannot be read).
    static func readProc() -> (process: Duration, threads: [Thread])? {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard let own = cpuTime(ofStatFile: "/proc/self/stat", ticks: ticks) else { return nil }
        var threads: [Thread] = []
        if let dir = opendir("/proc/self/task") {
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard let id = Int(name), let stat = cpuTime(ofStatFile: "/proc/self/task/\(id)/stat", ticks: ticks) else { continue }
                let comm = read("/proc/self/task/\(id)/comm")?.split(separator: "\n").first.map(String.init) ?? "?"
                let status = read("/proc/self/task/\(id)/status") ?? ""
                var invoked = 0
                for line in status.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches") || line.hasPrefix("nonvoluntary_ctxt_switches") {
                    invoked += Int(line.split { $0 == " " || $0 == "\t" }.last ?? "") ?? 0
                }
                threads.append(Thread(id: id, name: comm, cpu: stat, invoked: invoked))
            }
        }
        return (own, threads.sorted { $0.id < $1.id })
    }

    /// utime + stime of a /proc stat file (fields 14 and 15, after the parenthesised name).
    static func cpuTime(ofStatFile path: String, ticks: Double) -> Duration? {
        guard let text = read(path), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3): utime is field 14, stime 15.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return .nanoseconds(Int64((user + system) / ticks * 1e9))
    }

    /// This process's resident memory, in bytes (VmRSS).
    static func residentBytes() -> Int {
        guard let status = read("/proc/self/status"), let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return (Int(line.split { $0 == " " || $0 == "\t" }.dropFirst().first ?? "") ?? 0) * 1024
    }

    /// A small /proc file whole (nil if it cannot be read).
    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
