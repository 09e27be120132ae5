import Glibc

/// Names the calling thread so that `top -H`, `ps -L`, gdb and `strace -f` show what it is.
/// (glibc's pthread_setname_np is not visible to Swift; the kernel's per-thread `comm` file is
/// the same mechanism.) Names are cut to 15 bytes by the kernel.
public enum ThreadName {
    public static func setCurrent(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = write(fd, bytes, bytes.count)
    }

    public static var current: String {
        let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "?" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return "?" }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmed
    }
}
