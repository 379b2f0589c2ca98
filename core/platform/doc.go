// Package platform connects VNet to the operating system: the TUN device, its
// addresses and routes, and DNS.
//
// On Linux a TUN device carries the packets ([OpenTUN]) and a [Configurator]
// makes the OS match a netcfg.Settings value. On other systems the same API
// returns [ErrUnsupported]: macOS applies the settings in its Network
// Extension instead. The resolv.conf helpers ([OriginalResolvConf],
// [RestoreStale]) are plain file handling and work everywhere.
package platform
