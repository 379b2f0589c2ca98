import AppKit
import Foundation
import NetworkExtension

/// Talks to the system's VPN configuration (NETunnelProviderManager) and to
/// the running extension (provider messages), and publishes what the menu
/// shows. The JSON it shows comes from the Go core unchanged in meaning.
@MainActor
final class TunnelController: ObservableObject {
    @Published private(set) var state: TunnelState = .off
    @Published private(set) var profiles: [ProfileInfo] = []
    @Published private(set) var profilesError: String?
    @Published private(set) var apps: [AppStatus] = []
    @Published private(set) var diagnosis: [Diagnosis.Check] = []
    @Published private(set) var diagnosing = false

    private var manager: NETunnelProviderManager?
    private var observer: NSObjectProtocol?
    private var poller: Timer?

    init() {
        observer = NotificationCenter.default.addObserver(
            forName: .NEVPNStatusDidChange, object: nil, queue: .main
        ) { [weak self] _ in
            Task { @MainActor in self?.statusChanged() }
        }
        Task { await load() }
        refreshProfiles()
    }

    /// Finds VNet's configuration, or makes one the first time.
    private func load() async {
        do {
            let managers = try await NETunnelProviderManager.loadAllFromPreferences()
            manager = managers.first ?? NETunnelProviderManager()
            statusChanged()
        } catch {
            state = .error(error.localizedDescription)
        }
    }

    /// Saves VNet's configuration so the system can start the extension.
    private func configured() async throws -> NETunnelProviderManager {
        let m = manager ?? NETunnelProviderManager()
        let proto = NETunnelProviderProtocol()
        proto.providerBundleIdentifier = VNetShared.extensionBundleID
        proto.serverAddress = "VNet"
        m.protocolConfiguration = proto
        m.localizedDescription = "VNet"
        m.isEnabled = true
        try await m.saveToPreferences()
        // A saved configuration must be loaded again before it can start.
        try await m.loadFromPreferences()
        manager = m
        return m
    }

    func setOn(_ on: Bool) {
        Task {
            do {
                if on {
                    state = .starting
                    try await configured().connection.startVPNTunnel()
                } else {
                    manager?.connection.stopVPNTunnel()
                }
            } catch {
                state = .error(error.localizedDescription)
            }
        }
    }

    private func statusChanged() {
        guard let connection = manager?.connection else {
            state = .off
            return
        }
        let status = connection.status
        if status == .disconnected {
            connection.fetchLastDisconnectError { error in
                Task { @MainActor in self.state = TunnelState(status, lastError: error) }
            }
        } else {
            state = TunnelState(status, lastError: nil)
        }
        if status == .connected {
            startPolling()
        } else {
            stopPolling()
            apps = []
        }
        refreshProfiles()
    }

    private func startPolling() {
        guard poller == nil else {
            return
        }
        refreshStatus()
        poller = Timer.scheduledTimer(withTimeInterval: 5, repeats: true) { [weak self] _ in
            Task { @MainActor in self?.refreshStatus() }
        }
    }

    private func stopPolling() {
        poller?.invalidate()
        poller = nil
    }

    /// The logins in the shared folder, read through the Go core.
    func refreshProfiles() {
        guard let dir = VNetShared.profileDirectory?.path else {
            profilesError = "the app group container \(VNetShared.appGroup) is not available"
            return
        }
        guard let data = dir.withCString({ d in bridgeJSON { buf, len in vnet_profiles(d, buf, len) } }),
              let list = try? decodeBridgeJSON(ProfileList.self, from: data) else {
            profilesError = "cannot read the logins in \(dir)"
            return
        }
        profiles = list.profiles
        profilesError = list.error
    }

    private func refreshStatus() {
        send(.status) { data in
            guard let data, let status = try? decodeBridgeJSON(BridgeStatus.self, from: data) else {
                return
            }
            self.apps = status.engine.apps ?? []
        }
    }

    func runDiagnostics() {
        diagnosing = true
        send(.diagnose) { data in
            self.diagnosing = false
            guard let data, let d = try? decodeBridgeJSON(Diagnosis.self, from: data) else {
                self.diagnosis = [Diagnosis.Check(name: "VNet", ok: false, detail: "VNet is not running")]
                return
            }
            self.diagnosis = d.checks
        }
    }

    private func send(_ message: ProviderMessage, _ done: @escaping @MainActor (Data?) -> Void) {
        guard let session = manager?.connection as? NETunnelProviderSession, session.status == .connected else {
            done(nil)
            return
        }
        do {
            try session.sendProviderMessage(Data(message.rawValue.utf8)) { response in
                Task { @MainActor in done(response) }
            }
        } catch {
            done(nil)
        }
    }

    func copy(_ text: String) {
        NSPasteboard.general.clearContents()
        NSPasteboard.general.setString(text, forType: .string)
    }
}
