package platform

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The TUN device as a file descriptor that crosses processes: VNet's root
// helper opens the device (OpenTUN) and hands its descriptor to the engine,
// which runs as the user (core/privsep). The device lives while either
// process holds the descriptor.

// SyscallConn gives access to the device's descriptor, to send it to
// another process. The descriptor stays owned by t.
func (t *TUN) SyscallConn() (syscall.RawConn, error) { return t.file.SyscallConn() }

// TUNFromFD wraps fd, a TUN device's descriptor that another process
// opened with OpenTUN and sent to this one, as a TUN named name. The TUN
// owns fd from then on.
func TUNFromFD(fd int, name string) (*TUN, error) {
	if name == "" {
		unix.Close(fd)
		return nil, fmt.Errorf("TUN descriptor %d: no device name", fd)
	}
	unix.CloseOnExec(fd)
	// The flag lives on the shared open file; set it again in case the
	// sender did not, so that Close wakes a blocked read.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUN %s: set non-blocking: %w", name, err)
	}
	return &TUN{name: name, file: os.NewFile(uintptr(fd), name)}, nil
}
