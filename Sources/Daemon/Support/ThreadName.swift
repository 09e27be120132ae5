import CLinux

/// Names the calling thread so that `top -H`, `ps -L`, gdb and `strace -f` show what it is.
public enum ThreadName {
    public static func setCurrent(_ name: String) {
        clinux_set_thread_name(name)
    }

    public static var current: String { String(cString: clinux_thread_name()) }
}
