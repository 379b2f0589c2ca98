import Foundation
import NetworkExtension

/// The settings JSON the Go core passes to apply_settings
/// (bridge/nesettings.go): an image of NEPacketTunnelNetworkSettings. Go
/// decides every value (addresses, masks, routes, match domains); this file
/// only copies them into NetworkExtension types.
struct TunnelSettings: Decodable {
    var tunnelRemoteAddress: String
    var mtu: Int
    var ipv4: IPv4?
    var ipv6: IPv6?
    var dns: DNS?

    struct IPv4: Decodable {
        var addresses: [String]
        var subnetMasks: [String]
        var includedRoutes: [Route]

        struct Route: Decodable {
            var destinationAddress: String
            var subnetMask: String
        }
    }

    struct IPv6: Decodable {
        var addresses: [String]
        var networkPrefixLengths: [Int]
        var includedRoutes: [Route]

        struct Route: Decodable {
            var destinationAddress: String
            var networkPrefixLength: Int
        }
    }

    struct DNS: Decodable {
        var servers: [String]
        var matchDomains: [String]
        var matchDomainsNoSearch: Bool
    }

    static func decode(_ json: String) throws -> TunnelSettings {
        try decodeBridgeJSON(TunnelSettings.self, from: Data(json.utf8))
    }

    var networkSettings: NEPacketTunnelNetworkSettings {
        let settings = NEPacketTunnelNetworkSettings(tunnelRemoteAddress: tunnelRemoteAddress)
        settings.mtu = NSNumber(value: mtu)
        if let v4 = ipv4 {
            let ip = NEIPv4Settings(addresses: v4.addresses, subnetMasks: v4.subnetMasks)
            ip.includedRoutes = v4.includedRoutes.map { route in
                NEIPv4Route(destinationAddress: route.destinationAddress, subnetMask: route.subnetMask)
            }
            settings.ipv4Settings = ip
        }
        if let v6 = ipv6 {
            let ip = NEIPv6Settings(addresses: v6.addresses, networkPrefixLengths: v6.networkPrefixLengths.map { NSNumber(value: $0) })
            ip.includedRoutes = v6.includedRoutes.map { route in
                NEIPv6Route(destinationAddress: route.destinationAddress, networkPrefixLength: NSNumber(value: route.networkPrefixLength))
            }
            settings.ipv6Settings = ip
        }
        if let d = dns {
            let dnsSettings = NEDNSSettings(servers: d.servers)
            dnsSettings.matchDomains = d.matchDomains
            dnsSettings.matchDomainsNoSearch = d.matchDomainsNoSearch
            settings.dnsSettings = dnsSettings
        }
        return settings
    }
}
