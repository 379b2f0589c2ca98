// Package ipam assigns VNet's virtual IP addresses.
//
// Every cluster has an IPv4 range (its vnet_config's ipv4_cidr_range) and an
// Allocator hands out one address of it per app. Where an app's address
// lies is derived from a per-machine secret as well as from the app
// (NewKeyed): stable on one machine, not computable anywhere else. The
// machine has one IPv6 ULA /64, random too; an app's IPv6 address is that
// prefix with the app's IPv4 address in the low 32 bits, so A and AAAA
// answers lead to the same handler.
package ipam
