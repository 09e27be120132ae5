/// A failed command's words, as IOS prints them: the words the tools that drive a switch look
/// for to tell a failed line from a good one. Ansible's `cisco.ios` terminal plugin matches
/// `invalid input`, `(incomplete|ambiguous) command` and `% ?Error`; netmiko and NAPALM
/// `% Invalid`; scrapli `% Invalid input detected`, `% Incomplete command`, `% Ambiguous command`.
/// A refused line says all of that and then, as before, why.
public enum FailureText {
    /// Under the line and its `^` marker: a word the grammar does not take there.
    public static let invalidInputAtMarker = "% Invalid input detected at '^' marker."
    public static let incomplete = "% Incomplete command."

    public static func ambiguous(_ line: String) -> String { "% Ambiguous command:  \"\(line)\"" }

    /// A line the switch refuses: a value, a name or a combination it does not take (the line
    /// parses). Every tool's pattern catches it.
    public static func refused(_ why: String) -> String { "% Invalid input detected: " + why }

    /// A command that was right but could not be carried out (a file, a stop, a timeout).
    public static func failed(_ why: String) -> String { "% Error: " + why }
}
