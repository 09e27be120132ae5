import SwitchHAL

/// A frame handed from the rx thread to a service's loop.
struct InboundFrame: Sendable {
    var port: PortID
    var vlan: UInt16
    var bytes: [UInt8]
}
