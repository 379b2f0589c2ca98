package platform

import "errors"

var (
	// ErrUnsupported is returned by the TUN and the Configurator on
	// operating systems where VNet does not manage the OS itself (macOS uses
	// the Network Extension instead).
	ErrUnsupported = errors.New("platform: not supported on this operating system")

	// ErrClosed is returned by Apply after Close.
	ErrClosed = errors.New("platform: configurator closed")

	// ErrResolvConfInUse means the resolv.conf file belongs to another VNet
	// that is still running: VNet must not take over (or restore) it. The
	// user should stop the other VNet first.
	ErrResolvConfInUse = errors.New("platform: resolv.conf is held by another running VNet")
)
