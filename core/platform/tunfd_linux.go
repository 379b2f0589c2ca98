package platform

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The TUN device as file descriptors that cross processes: VNet's root
// helper opens the device (OpenTUN) and hands the descriptors of its queues
// to the engine, which runs as the user (core/privsep). The device lives
// while either process holds one of them.

// Descriptors returns the descriptors of the device's queues, in order, to
// send them to another process. They stay owned by t and valid until
// t.Close.
func (t *TUN) Descriptors() ([]int, error) {
	fds := make([]int, 0, len(t.files))
	for _, f := range t.files {
		rc, err := f.SyscallConn()
		if err != nil {
			return nil, fmt.Errorf("TUN %s: %w", t.name, err)
		}
		// Control, not f.Fd: Fd would make the descriptor blocking.
		if err := rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) }); err != nil {
			return nil, fmt.Errorf("TUN %s: %w", t.name, err)
		}
	}
	return fds, nil
}

// TUNFromFDs wraps fds, the descriptors of the queues of a TUN device that
// another process opened with OpenTUN and sent to this one, as a TUN named
// name. The TUN owns fds from then on; on error they are closed.
func TUNFromFDs(fds []int, name string) (*TUN, error) {
	fail := func(err error) (*TUN, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	switch {
	case name == "":
		return fail(errors.New("TUN descriptors: no device name"))
	case len(fds) == 0 || len(fds) > MaxTUNQueues:
		return fail(fmt.Errorf("TUN %s: %d descriptors, want 1 to %d", name, len(fds), MaxTUNQueues))
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
		// The flag lives on the shared open file; set it again in case the
		// sender did not, so that Close wakes a blocked read.
		if err := unix.SetNonblock(fd, true); err != nil {
			return fail(fmt.Errorf("TUN %s: set non-blocking: %w", name, err))
		}
	}
	t := &TUN{name: name}
	for _, fd := range fds {
		t.files = append(t.files, os.NewFile(uintptr(fd), name))
	}
	return t, nil
}
