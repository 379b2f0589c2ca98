// Package fence holds no code: its test checks that the laptop's side (the
// bridge for macOS and the engine, core/vnet) links no cluster server code,
// as tailscale's tstest/iosdeps does for its iOS build. Code both sides
// need lives in neutral packages (core/capin, core/portrange,
// core/dnsname, core/api); see docs/decisions.md.
package fence
