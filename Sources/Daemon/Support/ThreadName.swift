import CLinux

/// Names the calling thread so that `top -H`, `ps -L`, gdb and `strace -f` show what it is.
public enum ThreadName {
    public static func setCurrent(_ name: String) {
        clinux_set_thread_name(name)
    }

    public static var current: String { String(cString: clinux_thread_name()) }
}

/// `value` with `digits` decimals (what `%.Nf` prints), without Foundation.
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((abs(value) * scale).rounded())
    let whole = scaled / Int(scale)
    var fraction = String(scaled % Int(scale))
    while fraction.count < digits { fraction = "0" + fraction }
    return (value < 0 && scaled != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + fraction : "")
}
