// Command bridge is VNet's Go core behind a small C API, built as a static
// library with -buildmode=c-archive for the macOS Network Extension (and for
// the C harness that drives the same API on Linux in CI).
//
// The contract is the hand-written header vnet.h. The files here only turn
// C values into Go values and back: instance.go runs one engine, queue.go is
// its PacketIO over injected packets, nesettings.go shapes the OS settings
// for NEPacketTunnelNetworkSettings, and exports.go is the C surface.
package main

// main is never called: a c-archive is driven through its exported
// functions.
func main() {}
