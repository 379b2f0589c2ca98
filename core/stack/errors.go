package stack

import (
	"errors"
	"net"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
)

var (
	// ErrClosed is returned by methods of a Stack that has been closed.
	ErrClosed = errors.New("stack: closed")
	// ErrRequestDone is returned by TCPRequest.Accept when the request has
	// already been answered: Accept was called before, or HandleTCP
	// returned and the client got its RST.
	ErrRequestDone = errors.New("stack: TCP request already answered")
)

// errRunning is returned by a second call to Run.
var errRunning = errors.New("stack: Run called twice")

// netError turns a gVisor tcpip.Error, which does not implement error, into
// an error. The errors a caller may act on become the syscall.Errno a kernel
// socket would give, so that errors.Is(err, syscall.ECONNREFUSED) works the
// same for a connection through the stack as for one through the OS.
func netError(err tcpip.Error) error {
	if err == nil {
		return nil
	}
	switch err.(type) {
	case *tcpip.ErrConnectionRefused:
		return syscall.ECONNREFUSED
	case *tcpip.ErrConnectionReset:
		return syscall.ECONNRESET
	case *tcpip.ErrConnectionAborted:
		return syscall.ECONNABORTED
	case *tcpip.ErrTimeout:
		return syscall.ETIMEDOUT
	case *tcpip.ErrHostUnreachable, *tcpip.ErrHostDown:
		return syscall.EHOSTUNREACH
	case *tcpip.ErrNetworkUnreachable:
		return syscall.ENETUNREACH
	case *tcpip.ErrPortInUse, *tcpip.ErrDuplicateAddress:
		return syscall.EADDRINUSE
	case *tcpip.ErrBadLocalAddress:
		return syscall.EADDRNOTAVAIL
	case *tcpip.ErrClosedForSend, *tcpip.ErrClosedForReceive:
		return net.ErrClosed
	}
	return tcpipError{err.String()}
}

// tcpipError carries the text of a tcpip.Error that has no errno a caller
// would test for.
type tcpipError struct{ msg string }

func (e tcpipError) Error() string { return e.msg }
