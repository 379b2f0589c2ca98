import NetworkExtension

/// What the menu shows about the tunnel.
enum TunnelState: Equatable {
    case off
    case starting
    case on
    case error(String)

    /// The system's connection status, as the menu names it.
    init(_ status: NEVPNStatus, lastError: Error?) {
        switch status {
        case .connected:
            self = .on
        case .connecting, .reasserting, .disconnecting:
            self = .starting
        case .invalid, .disconnected:
            if let lastError {
                self = .error(lastError.localizedDescription)
            } else {
                self = .off
            }
        @unknown default:
            self = .off
        }
    }

    var title: String {
        switch self {
        case .off:
            return "VNet is off"
        case .starting:
            return "VNet is starting…"
        case .on:
            return "VNet is on"
        case .error:
            return "VNet failed"
        }
    }

    var symbolName: String {
        switch self {
        case .on:
            return "network"
        case .error:
            return "exclamationmark.triangle"
        default:
            return "network.slash"
        }
    }
}
