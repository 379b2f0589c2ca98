// Package fence holds no code: its tests hold the walls of the house.
// One checks that the laptop's side (the bridge for macOS and the engine,
// core/vnet) links no cluster server code, as tailscale's tstest/iosdeps
// does for its iOS build; code both sides need lives in neutral packages
// (core/capin, core/portrange, core/dnsname, core/api), see
// docs/decisions.md. The other checks that README.md's layout table
// matches the tree.
package fence
