import NetTypes
import Ports
import SwitchHAL

/// What one port is wired to, from `--port ethN=udp:LOCAL:REMOTE` or `--port ethN=linux:IFNAME`.
public struct PortAttachment: Sendable {
    public var port: PortID
    public var backend: PortBackend

    public init(port: PortID, backend: PortBackend) {
        self.port = port
        self.backend = backend
    }

    /// Parses one `--port` value and opens its backend (binds the UDP port, opens the AF_PACKET
    /// socket), so a mistake is reported before the daemon starts.
    public static func open(_ text: String, portCount: Int) throws -> PortAttachment {
        let usage = "expected ethN=udp:LOCAL-UDP-PORT:REMOTE-UDP-PORT or ethN=linux:IFNAME"
        guard let equals = text.firstIndex(of: "=") else { throw DaemonError("--port \(text): \(usage)") }
        let name = String(text[..<equals])
        let spec = text[text.index(after: equals)...].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard case .port(let port)? = InterfaceID(name, portCount: portCount) else {
            throw DaemonError("--port \(text): \(name) is not a port of this chip (eth1-eth\(portCount))")
        }
        do {
            switch spec.first {
            case "udp":
                guard spec.count == 3, let local = UInt16(spec[1]), let remote = UInt16(spec[2]), local > 0, remote > 0 else {
                    throw DaemonError("--port \(text): \(usage)")
                }
                return PortAttachment(port: port, backend: try UDPPort(localPort: local, remotePort: remote, name: name))
            case "linux":
                guard spec.count == 2, !spec[1].isEmpty else { throw DaemonError("--port \(text): \(usage)") }
                return PortAttachment(port: port, backend: try LinuxPort(interface: spec[1], name: name))
            default:
                throw DaemonError("--port \(text): unknown backend \"\(spec.first ?? "")\"; \(usage)")
            }
        } catch let error as PortError {
            throw DaemonError("--port \(text): \(error)")
        }
    }
}
