package privsep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
)

// The wire: a SOCK_SEQPACKET Unix socket, one JSON message per packet. The
// helper speaks first: a greeting (an empty reply) or a refusal. Then the
// engine sends a request and waits for its reply; "open" comes first and
// once, and its reply carries the descriptors of the TUN device's queues
// (SCM_RIGHTS, in one message): as many as the request's "queues" asked for
// (1 when it is absent, as from an engine older than multi-queue TUNs, and
// at most platform.MaxTUNQueues). An engine takes as many queues as it gets,
// so a helper that sends one is understood too.
// When the engine closes the socket (or dies), the helper undoes
// everything.
const (
	opOpen  = "open"
	opApply = "apply"
)

// maxMessage bounds one message (settings with many zones fit easily).
const maxMessage = 1 << 16

type request struct {
	Op string `json:"op"`
	// Open: the device name asked for and its MTU.
	Tun string `json:"tun,omitempty"`
	MTU int    `json:"mtu,omitempty"`
	// Queues (open) is how many queues the device should have; 0 means 1.
	Queues int `json:"queues,omitempty"`
	// Apply: the settings to put in force.
	Settings *netcfg.Settings `json:"settings,omitempty"`
}

type reply struct {
	// Err is the helper's refusal or failure, one line; empty on success.
	Err string `json:"err,omitempty"`
	// Open: the device's name and the helper's DNS mode (the engine reads
	// its upstream resolvers from the file that mode leaves alone).
	Tun     string `json:"tun,omitempty"`
	DNSMode string `json:"dns_mode,omitempty"`
	// Unguarded (open) says why other local users can send through the
	// device (no platform.DeviceGuard); empty when they cannot.
	Unguarded string `json:"unguarded,omitempty"`
}

// send writes v as one message, with fds attached.
func send(c *net.UnixConn, v any, fds ...int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// errPeerGone means the other end closed the socket.
var errPeerGone = errors.New("the other end closed the connection")

// maxFDs is the most descriptors one message carries: a TUN's queues.
const maxFDs = platform.MaxTUNQueues

// recv reads one message into v and returns the descriptors attached to
// it, at most maxFDs. A message with more fails, its descriptors closed
// (the kernel truncates what does not fit, MSG_CTRUNC): a peer cannot make
// this process hold files it did not ask for.
func recv(c *net.UnixConn, v any) (fds []int, err error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if errors.Is(err, io.EOF) {
		return nil, errPeerGone
	}
	if err != nil {
		return nil, err
	}
	if oobn > 0 {
		fds, err = parseRights(oob[:oobn])
		if err != nil {
			closeFDs(fds)
			return nil, err
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeFDs(fds)
		return nil, errors.New("message too long")
	}
	if n == 0 {
		closeFDs(fds)
		return nil, errPeerGone
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		closeFDs(fds)
		return nil, fmt.Errorf("bad message: %w", err)
	}
	return fds, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		f, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, err
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// peerCred is the identity of the process at the other end of c, as the
// kernel recorded it when the connection was made (SO_PEERCRED): what the
// peer says about itself plays no part.
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return cred, nil
}

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)
