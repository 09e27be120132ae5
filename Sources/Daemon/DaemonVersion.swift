/// The version vrrpd reports (`show version`, its log line when ready).
public enum DaemonVersion {
    public static let string = "0.1.0"
}
