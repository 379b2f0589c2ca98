import Foundation
import NetworkExtension
import os

/// The Network Extension: it starts the Go core through the bridge
/// (bridge/vnet.h), moves packets between packetFlow and the core in
/// batches, applies the settings the core sends, and answers the app's
/// messages with the core's JSON. It decides nothing itself.
final class PacketTunnelProvider: NEPacketTunnelProvider {
    let log = Logger(subsystem: VNetShared.extensionBundleID, category: "tunnel")

    /// Serialises start, stop and the status message.
    private let queue = DispatchQueue(label: "dev.vnetproject.vnet.tunnel")
    /// Runs diagnoses: one takes up to 10 s, and must not hold up `queue`,
    /// which stopTunnel waits on (vnet.h: vnet_stop cuts it short).
    private let diagnoseQueue = DispatchQueue(label: "dev.vnetproject.vnet.diagnose", attributes: .concurrent)
    /// The core's handle: 0 until vnet_start returns, and again once
    /// stopping begins. Guarded by lock.
    private var handle: Int64 = 0
    private let lock = NSLock()

    private var currentHandle: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return handle
    }

    override func startTunnel(options: [String: NSObject]?, completionHandler: @escaping (Error?) -> Void) {
        queue.async {
            guard let profileDir = VNetShared.profileDirectory else {
                completionHandler(VNetError.message("the app group container \(VNetShared.appGroup) is not available"))
                return
            }
            // Upstream DNS: the Go core reads /etc/resolv.conf, which
            // lists the system's resolvers and which VNet never changes
            // (its DNS is split by match domains).
            let config: [String: Any] = ["profile_dir": profileDir.path, "log_level": "info"]
            guard let data = try? JSONSerialization.data(withJSONObject: config),
                  let json = String(data: data, encoding: .utf8) else {
                completionHandler(VNetError.message("cannot encode the start configuration"))
                return
            }
            var callbacks = vnet_callbacks(
                write_packets: vnetWritePackets,
                apply_settings: vnetApplySettings,
                log: vnetLog,
                stopped: vnetStopped)
            var err = [CChar](repeating: 0, count: 1024)
            let ctx = Unmanaged.passUnretained(self).toOpaque()
            let h = json.withCString { cfg in
                err.withUnsafeMutableBufferPointer { e in
                    vnet_start(cfg, &callbacks, ctx, e.baseAddress, e.count)
                }
            }
            if h <= 0 {
                let reason = String(cString: err)
                self.log.error("VNet did not start: \(reason, privacy: .public)")
                completionHandler(VNetError.message(reason))
                return
            }
            self.lock.lock()
            self.handle = h
            self.lock.unlock()
            self.readPackets()
            completionHandler(nil)
        }
    }

    override func stopTunnel(with reason: NEProviderStopReason, completionHandler: @escaping () -> Void) {
        queue.async {
            self.lock.lock()
            let h = self.handle
            self.handle = 0
            self.lock.unlock()
            if h > 0 {
                _ = vnet_stop(h)
            }
            completionHandler()
        }
    }

    override func handleAppMessage(_ messageData: Data, completionHandler: ((Data?) -> Void)?) {
        let message = ProviderMessage(rawValue: String(decoding: messageData, as: UTF8.self))
        switch message {
        case .status:
            queue.async {
                let h = self.currentHandle
                completionHandler?(h > 0 ? bridgeJSON { buf, len in vnet_status(h, buf, len) } : nil)
            }
        case .diagnose:
            diagnoseQueue.async {
                let h = self.currentHandle
                completionHandler?(h > 0 ? bridgeJSON(initialSize: 64 * 1024) { buf, len in vnet_diagnose(h, buf, len) } : nil)
            }
        case nil:
            completionHandler?(nil)
        }
    }

    /// Reads packets from the OS for as long as the core runs, one batch per
    /// vnet_inject call. vnet_inject waits while the core's queue is full,
    /// which paces this loop.
    private func readPackets() {
        packetFlow.readPackets { [weak self] packets, _ in
            guard let self else {
                return
            }
            let h = self.currentHandle
            if h <= 0 || !self.inject(packets, into: h) {
                return
            }
            self.readPackets()
        }
    }

    private func inject(_ packets: [Data], into h: Int64) -> Bool {
        // NSData keeps its bytes in one place for as long as it lives.
        let datas = packets.map { $0 as NSData }
        var pointers = [UnsafePointer<UInt8>?](repeating: nil, count: datas.count)
        var lengths = [Int](repeating: 0, count: datas.count)
        for (i, d) in datas.enumerated() {
            pointers[i] = d.bytes.assumingMemoryBound(to: UInt8.self)
            lengths[i] = d.length
        }
        let rc = withExtendedLifetime(datas) {
            pointers.withUnsafeBufferPointer { p in
                lengths.withUnsafeBufferPointer { l in
                    vnet_inject(h, p.baseAddress, l.baseAddress, datas.count)
                }
            }
        }
        return rc == 0
    }

    /// Applies settings from the core and waits until they are in force,
    /// at most VNET_SETTINGS_TIMEOUT_MS: the core waits no longer (vnet.h),
    /// so vnet_stop never hangs on macOS.
    func apply(_ json: String) -> Error? {
        let settings: TunnelSettings
        do {
            settings = try TunnelSettings.decode(json)
        } catch {
            return error
        }
        let done = DispatchSemaphore(value: 0)
        let result = ApplyResult()
        setTunnelNetworkSettings(settings.networkSettings) { error in
            result.set(error)
            done.signal()
        }
        if done.wait(timeout: .now() + .milliseconds(Int(VNET_SETTINGS_TIMEOUT_MS))) == .timedOut {
            return VNetError.message("macOS did not apply the network settings within \(VNET_SETTINGS_TIMEOUT_MS) ms")
        }
        return result.get()
    }
}

/// The outcome of setTunnelNetworkSettings, which may complete after
/// apply has stopped waiting.
private final class ApplyResult {
    private let lock = NSLock()
    private var error: Error?

    func set(_ error: Error?) {
        lock.lock()
        self.error = error
        lock.unlock()
    }

    func get() -> Error? {
        lock.lock()
        defer { lock.unlock() }
        return error
    }
}

/// Errors the extension reports to the system (and so to the app).
enum VNetError: LocalizedError {
    case message(String)

    var errorDescription: String? {
        switch self {
        case .message(let text):
            return text
        }
    }
}

// The callbacks of vnet_callbacks. C function pointers cannot capture, so
// the provider comes back through ctx. They run on the Go core's threads.

private func provider(_ ctx: UnsafeMutableRawPointer?) -> PacketTunnelProvider {
    Unmanaged<PacketTunnelProvider>.fromOpaque(ctx!).takeUnretainedValue()
}

private func vnetWritePackets(
    _ ctx: UnsafeMutableRawPointer?,
    _ pkts: UnsafePointer<UnsafePointer<UInt8>?>?,
    _ lens: UnsafePointer<Int>?,
    _ families: UnsafePointer<Int32>?,
    _ n: Int
) {
    guard let pkts, let lens, let families else {
        return
    }
    var packets = [Data]()
    var protocols = [NSNumber]()
    packets.reserveCapacity(n)
    protocols.reserveCapacity(n)
    for i in 0..<n {
        guard let p = pkts[i] else {
            continue
        }
        packets.append(Data(bytes: p, count: lens[i]))
        protocols.append(NSNumber(value: families[i]))
    }
    provider(ctx).packetFlow.writePackets(packets, withProtocols: protocols)
}

private func vnetApplySettings(
    _ ctx: UnsafeMutableRawPointer?,
    _ json: UnsafePointer<CChar>?,
    _ err: UnsafeMutablePointer<CChar>?,
    _ errLen: Int
) -> Int32 {
    guard let json else {
        return 1
    }
    guard let failure = provider(ctx).apply(String(cString: json)) else {
        return 0
    }
    if let err, errLen > 0 {
        _ = strlcpy(err, failure.localizedDescription, errLen)
    }
    return 1
}

private func vnetLog(_ ctx: UnsafeMutableRawPointer?, _ level: Int32, _ line: UnsafePointer<CChar>?) {
    guard let line else {
        return
    }
    let text = String(cString: line)
    let log = provider(ctx).log
    switch level {
    case VNET_LOG_ERROR...:
        log.error("\(text, privacy: .public)")
    case VNET_LOG_WARN...:
        log.warning("\(text, privacy: .public)")
    case VNET_LOG_INFO...:
        log.info("\(text, privacy: .public)")
    default:
        log.debug("\(text, privacy: .public)")
    }
}

private func vnetStopped(_ ctx: UnsafeMutableRawPointer?, _ reason: UnsafePointer<CChar>?) {
    let text = reason.map { String(cString: $0) } ?? "VNet stopped"
    // Not vnet_stop here (vnet.h): cancelling leads to stopTunnel, which
    // stops the core on the provider's queue.
    provider(ctx).cancelTunnelWithError(VNetError.message(text))
}
