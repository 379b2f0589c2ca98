import Foundation

/// What the app and the extension agree on: identifiers, the folder they
/// share, and the provider messages. No VNet logic lives here: the Go core
/// decides, Swift carries values.
enum VNetShared {
    /// The app group both targets belong to, from Info.plist (VNetAppGroup,
    /// set by project.yml to "$(TeamIdentifierPrefix)vnet").
    static var appGroup: String {
        Bundle.main.object(forInfoDictionaryKey: "VNetAppGroup") as? String ?? "vnet"
    }

    /// The bundle identifier of the packet tunnel extension.
    static let extensionBundleID = "dev.vnetproject.vnet.extension"

    /// The folder holding profiles/ (what $VNET_HOME is to the CLI): inside
    /// the app group container, so the sandboxed extension can read what
    /// `VNET_HOME=<this folder> vnet login` wrote. See swift/README.md.
    static var profileDirectory: URL? {
        FileManager.default
            .containerURL(forSecurityApplicationGroupIdentifier: appGroup)?
            .appendingPathComponent("vnet", isDirectory: true)
    }
}

/// The messages the app sends to the extension; the answer is the Go
/// core's JSON.
enum ProviderMessage: String {
    case status
    case diagnose
}

/// Calls one of the bridge's "JSON out" functions (vnet.h): the return
/// value is the full length; when the buffer was too small, the call
/// again with that length + 1 returns the text measured, so two calls
/// always do. Nil for a negative return (a dead handle, a bad argument).
func bridgeJSON(initialSize: Int = 16 * 1024, _ call: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> Data? {
    var size = initialSize
    for _ in 0..<2 {
        var buf = [CChar](repeating: 0, count: size)
        let n = buf.withUnsafeMutableBufferPointer { p in call(p.baseAddress!, p.count) }
        if n < 0 {
            return nil
        }
        if Int(n) < size {
            return buf.withUnsafeBytes { raw in Data(raw.prefix(Int(n))) }
        }
        size = Int(n) + 1
    }
    return nil
}
