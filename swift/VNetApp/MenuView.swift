import SwiftUI

/// The menu: the switch, the state, the logins, the apps (click copies the
/// name) and the diagnosis.
struct MenuView: View {
    @EnvironmentObject private var tunnel: TunnelController

    private var isOn: Binding<Bool> {
        Binding(
            get: { tunnel.state == .on || tunnel.state == .starting },
            set: { tunnel.setOn($0) })
    }

    var body: some View {
        VStack(alignment: .leading, spacing: 8) {
            Toggle(tunnel.state.title, isOn: isOn)
                .toggleStyle(.switch)
            if case .error(let message) = tunnel.state {
                Text(message)
                    .font(.caption)
                    .foregroundStyle(.red)
                    .textSelection(.enabled)
            }

            Divider()
            Text("Clusters").font(.headline)
            if let error = tunnel.profilesError {
                Text(error).font(.caption).foregroundStyle(.secondary)
            }
            ForEach(tunnel.profiles) { p in
                HStack {
                    Text(p.cluster)
                    Spacer()
                    Text(p.expired ? "\(p.user) · login expired" : p.user)
                        .foregroundStyle(p.expired ? .red : .secondary)
                }
            }

            if !tunnel.apps.isEmpty {
                Divider()
                Text("Apps").font(.headline)
                ForEach(tunnel.apps) { app in
                    Button {
                        tunnel.copy(app.publicAddr)
                    } label: {
                        HStack {
                            Text(app.publicAddr)
                            Spacer()
                            Text(app.ipv4 ?? "").foregroundStyle(.secondary)
                        }
                    }
                    .buttonStyle(.plain)
                    .help("Copy \(app.publicAddr)")
                }
            }

            Divider()
            Button(tunnel.diagnosing ? "Running diagnostics…" : "Run diagnostics") {
                tunnel.runDiagnostics()
            }
            .disabled(tunnel.diagnosing)
            ForEach(tunnel.diagnosis) { check in
                VStack(alignment: .leading) {
                    Label(check.name, systemImage: check.ok ? "checkmark.circle" : "xmark.octagon")
                        .foregroundStyle(check.ok ? .green : .red)
                    Text(check.detail).font(.caption).textSelection(.enabled)
                }
            }

            Divider()
            Button("Quit VNet") {
                NSApplication.shared.terminate(nil)
            }
        }
        .padding()
        .frame(width: 360)
    }
}
