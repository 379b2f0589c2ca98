import Foundation

// Decodable mirrors of the Go core's JSON (bridge/status.go, profiles.go,
// diagnose.go). Only what the menu shows is decoded; the rest is ignored.

private let decoder: JSONDecoder = {
    let d = JSONDecoder()
    d.keyDecodingStrategy = .convertFromSnakeCase
    d.dateDecodingStrategy = .iso8601
    return d
}()

func decodeBridgeJSON<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
    try decoder.decode(type, from: data)
}

/// vnet_status's JSON.
struct BridgeStatus: Decodable {
    var state: String
    var error: String?
    var engine: Engine

    struct Engine: Decodable {
        var apps: [AppStatus]?
    }
}

/// One app as VNet serves it.
struct AppStatus: Decodable, Hashable, Identifiable {
    var cluster: String
    var name: String
    var publicAddr: String
    var ipv4: String?

    var id: String { cluster + "/" + name }
}

/// vnet_profiles' JSON.
struct ProfileList: Decodable {
    var profiles: [ProfileInfo]
    var error: String?
}

/// One login.
struct ProfileInfo: Decodable, Hashable, Identifiable {
    var cluster: String
    var proxy: String
    var user: String
    var expired: Bool

    var id: String { proxy }
}

/// vnet_diagnose's JSON.
struct Diagnosis: Decodable {
    var checks: [Check]

    struct Check: Decodable, Hashable, Identifiable {
        var name: String
        var ok: Bool
        var detail: String

        var id: String { name }
    }
}
