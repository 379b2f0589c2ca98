import SwiftUI

/// The menu-bar app: turns VNet on and off and shows what it serves. The
/// work happens in the extension; this app only asks and shows.
@main
struct VNetApp: App {
    @StateObject private var tunnel = TunnelController()

    var body: some Scene {
        MenuBarExtra {
            MenuView()
                .environmentObject(tunnel)
        } label: {
            Image(systemName: tunnel.state.symbolName)
        }
        .menuBarExtraStyle(.window)
    }
}
