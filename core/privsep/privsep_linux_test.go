package privsep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/testkit"
)

// seqpacketPair is a connected pair of SOCK_SEQPACKET Unix sockets, as the
// helper and the engine hold them.
func seqpacketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "seqpacket")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// The descriptors in the reply to "open" are the helper's open files, the
// queues of the device, in order, usable by the engine: pipes stand in for
// the TUN device's queues.
func TestDescriptorsPassOverSocketpair(t *testing.T) {
	for _, n := range []int{1, 3, maxFDs} {
		t.Run(fmt.Sprint(n, " descriptors"), func(t *testing.T) {
			helper, engine := seqpacketPair(t)
			var readers []*os.File
			var sent []int
			for range n {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				defer w.Close() // after send: the engine's copy is what is used
				readers = append(readers, r)
				sent = append(sent, int(w.Fd()))
			}
			if err := send(helper, reply{Tun: "vnet0", DNSMode: platform.DNSModeNone}, sent...); err != nil {
				t.Fatal(err)
			}
			var rep reply
			fds, err := recv(engine, &rep)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Tun != "vnet0" || len(fds) != n {
				t.Fatalf("reply %+v with descriptors %v, want vnet0 and %d", rep, fds, n)
			}
			for i, fd := range fds {
				got := os.NewFile(uintptr(fd), "passed")
				msg := fmt.Sprint("packet on queue ", i)
				if _, err := got.WriteString(msg); err != nil {
					t.Fatal(err)
				}
				got.Close()
				b := make([]byte, 32)
				k, _ := readers[i].Read(b)
				if string(b[:k]) != msg {
					t.Fatalf("read %q through passed descriptor %d, want %q", b[:k], i, msg)
				}
			}
		})
	}
}

// A message with more descriptors than a TUN has queues is refused, and
// none of them is left open in the receiver.
func TestTooManyDescriptorsRefused(t *testing.T) {
	helper, engine := seqpacketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sent := make([]int, maxFDs+1)
	for i := range sent {
		sent[i] = int(w.Fd())
	}
	if err := send(helper, reply{Tun: "vnet0"}, sent...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var rep reply
	if fds, err := recv(engine, &rep); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("recv = %v, %v; want a refusal", fds, err)
	}
	// Every copy of the write end is closed: the pipe reads EOF.
	if n, err := r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read after the refusal = %d, %v; want EOF (a descriptor kept open)", n, err)
	}
}

// A message without a descriptor comes with none, and a closed peer is
// errPeerGone.
func TestMessageWithoutDescriptorAndPeerGone(t *testing.T) {
	a, b := seqpacketPair(t)
	s := netcfg.Settings{TunAddr4: netip.MustParseAddr("100.64.0.1"), Routes: []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10")}}
	if err := send(a, request{Op: opApply, Settings: &s}); err != nil {
		t.Fatal(err)
	}
	var req request
	fds, err := recv(b, &req)
	if err != nil || len(fds) != 0 || req.Op != opApply || !req.Settings.Equal(s) {
		t.Fatalf("recv = %+v, descriptors %v, %v", req, fds, err)
	}
	a.Close()
	if _, err := recv(b, &req); !errors.Is(err, errPeerGone) {
		t.Fatalf("recv after the peer closed = %v, want errPeerGone", err)
	}
}

// startHelper serves a Helper that allows allow on a socket in a temporary
// folder and returns the socket's path and Serve's result.
func startHelper(t *testing.T, allow func(*unix.Ucred) error) (string, <-chan error) {
	t.Helper()
	testkit.CheckGoroutines(t)
	dir := t.TempDir()
	h, err := NewHelper(HelperConfig{Allow: allow, DNSMode: platform.DNSModeNone, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "helper.sock")
	ln, err := Listen(path, os.Getuid(), os.Getgid())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			done <- err
			return
		}
		done <- h.Serve(context.Background(), conn)
	}()
	return path, done
}

// The helper believes the kernel, not the engine: a process of another
// uid is refused before anything is opened, and told why.
func TestHelperRefusesAnotherUID(t *testing.T) {
	me := uint32(os.Getuid())
	path, served := startHelper(t, AllowUID(me+1, 0))
	_, err := Dial(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "is not the VNet user") {
		t.Fatalf("Dial from the wrong uid = %v, want a refusal naming the uid", err)
	}
	if err := <-served; !errors.Is(err, ErrPeerRefused) {
		t.Fatalf("Serve = %v, want ErrPeerRefused", err)
	}
}

// The right uid but another process than the engine the helper started is
// refused too.
func TestHelperRefusesAnotherPID(t *testing.T) {
	path, served := startHelper(t, AllowUID(uint32(os.Getuid()), os.Getpid()+1))
	if _, err := Dial(context.Background(), path); err == nil || !strings.Contains(err.Error(), "is not VNet's engine") {
		t.Fatalf("Dial from another pid = %v, want a refusal", err)
	}
	if err := <-served; !errors.Is(err, ErrPeerRefused) {
		t.Fatalf("Serve = %v, want ErrPeerRefused", err)
	}
}

// The VNet user is served: requests are answered in order (here without
// root: apply before open is refused, and the session goes on), and the
// session ends when the engine closes.
func TestHelperServesTheUser(t *testing.T) {
	path, served := startHelper(t, AllowUID(uint32(os.Getuid()), os.Getpid()))
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DNSMode() != platform.DNSModeNone {
		t.Errorf("DNSMode from the greeting = %q, want %q", c.DNSMode(), platform.DNSModeNone)
	}
	for range 2 {
		if err := c.Apply(context.Background(), netcfg.Settings{}); err == nil || !strings.Contains(err.Error(), "apply before open") {
			t.Fatalf("Apply before open = %v, want 'apply before open'", err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after the engine closed = %v", err)
	}
}

// Root never reads a file of the user's through a symbolic link, nor one
// owned by someone else.
func TestOpenNoFollowRefusesSymlinkedProfile(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "profile.yaml")
	if err := os.WriteFile(real, []byte("proxy: example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "linked.yaml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	me := uint32(os.Getuid())
	f, err := OpenNoFollow(real, me)
	if err != nil {
		t.Fatalf("the file itself: %v", err)
	}
	f.Close()
	if _, err := OpenNoFollow(link, me); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("through a symlink = %v, want a refusal", err)
	}
	if _, err := OpenNoFollow(real, me+1); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("owned by another uid = %v, want ErrNotOwned", err)
	}
	if _, err := OpenNoFollow(dir, me); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a folder = %v, want a refusal", err)
	}
}

// A state file that is a symbolic link is not followed by Recover (it
// could point root at any file), and is left for the administrator.
func TestRecoverRefusesSymlinkedState(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere.json")
	if err := os.WriteFile(target, []byte(`{"pid": 1, "tun": "eth0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	path := stateFile(dir, "vnet0")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(dir, nil); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Recover = %v, want a refusal of the symlink", err)
	}
}

// A state file of this process is its own, and another namespace's is not
// this namespace's business; an empty folder or none is nothing to do.
func TestRecoverSkipsOwnAndOtherNamespaces(t *testing.T) {
	if _, err := Recover(filepath.Join(t.TempDir(), "none"), nil); err != nil {
		t.Fatalf("Recover of a missing folder = %v", err)
	}
	dir := t.TempDir()
	own := stateFile(dir, "vnet0")
	if err := writeState(own, state{PID: os.Getpid(), Tun: "vnet0", DNSMode: platform.DNSModeNone}); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "helper-net1-vnet0.json")
	if err := os.WriteFile(other, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		t.Skip("state files are root's; the rest needs root")
	}
	if n, err := Recover(dir, nil); n != 0 || err != nil {
		t.Fatalf("Recover = %d, %v; want nothing undone", n, err)
	}
	for _, p := range []string{own, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it left alone", p, err)
		}
	}
}

func TestCheckSettings(t *testing.T) {
	ok := netcfg.Settings{
		TunAddr4: netip.MustParseAddr("100.64.0.1"),
		TunAddr6: netip.MustParseAddr("fd12:3456::1"),
		Routes:   []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("fd12:3456::/64")},
		DNSAddrs: []netip.Addr{netip.MustParseAddr("100.64.0.2"), netip.MustParseAddr("fd12:3456::2")},
	}
	with := func(f func(*netcfg.Settings)) netcfg.Settings {
		s := ok
		s.Routes = append([]netip.Prefix(nil), ok.Routes...)
		s.DNSAddrs = append([]netip.Addr(nil), ok.DNSAddrs...)
		f(&s)
		return s
	}
	tests := []struct {
		name string
		s    netcfg.Settings
		want string // "" accepted
	}{
		{"VNet's own settings", ok, ""},
		{"a public route", with(func(s *netcfg.Settings) { s.Routes = append(s.Routes, netip.MustParsePrefix("8.8.8.0/24")) }), "not inside"},
		{"the default route", with(func(s *netcfg.Settings) { s.Routes = append(s.Routes, netip.MustParsePrefix("0.0.0.0/0")) }), "not inside"},
		{"an IPv6 route outside ULA", with(func(s *netcfg.Settings) { s.Routes = append(s.Routes, netip.MustParsePrefix("2001:db8::/32")) }), "not inside fd00::/8"},
		{"a DNS address routed for everyone outside VNet's routes", with(func(s *netcfg.Settings) { s.DNSAddrs = append(s.DNSAddrs, netip.MustParseAddr("192.168.1.1")) }), "outside VNet's routes"},
		{"a device address outside VNet's routes", with(func(s *netcfg.Settings) { s.TunAddr4 = netip.MustParseAddr("10.0.0.1") }), "outside VNet's routes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSettings(tt.s)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("checkSettings = %v, want %q", err, tt.want)
			}
		})
	}
}

// A device name goes into the guard's nft script: anything but letters,
// digits, '-', '_' and '.' is refused before anything is opened.
func TestHelperRefusesBadDeviceNames(t *testing.T) {
	path, served := startHelper(t, AllowUID(uint32(os.Getuid()), os.Getpid()))
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`vnet"0`, "vnet;0", "vnet{0}", "vnet 0", "vnet/0", "", "vnetvnetvnetvnet0"} {
		if _, _, err := c.OpenTUN(context.Background(), name, 0, 1); err == nil || !strings.Contains(err.Error(), "device name") {
			t.Errorf("OpenTUN(%q) = %v, want a refusal of the name", name, err)
		}
	}
	// The number of queues is bounded: each is a descriptor the helper
	// opens as root.
	for _, q := range []int{-1, platform.MaxTUNQueues + 1, 1 << 20} {
		if _, _, err := c.OpenTUN(context.Background(), "vnet0", 0, q); err == nil || !strings.Contains(err.Error(), "TUN queues") {
			t.Errorf("OpenTUN with %d queues = %v, want a refusal", q, err)
		}
	}
	c.Close()
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

// A request abandoned by its ctx before the helper answered leaves a reply
// on the connection: the next request must get its own reply, not that
// one (with an open's descriptors, another request's files).
func TestAbandonedRequestsReplyDropped(t *testing.T) {
	engine, helper := seqpacketPair(t)
	// The helper's greeting, then each request answered in order, the
	// first only once the test says so.
	if err := send(helper, reply{DNSMode: platform.DNSModeNone}); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), engine)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answerFirst := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			var req request
			if _, err := recv(helper, &req); err != nil {
				served <- nil
				return
			}
			if i == 0 {
				<-answerFirst
			}
			if err := send(helper, reply{Err: fmt.Sprintf("reply to request %d (%s)", i, req.Op)}); err != nil {
				served <- err
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.call(ctx, request{Op: opApply}); !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned call: %v, want context.Canceled", err)
	}
	close(answerFirst)
	_, _, err = c.call(context.Background(), request{Op: opOpen})
	if err == nil || !strings.Contains(err.Error(), "reply to request 1 ("+opOpen+")") {
		t.Errorf("second call got %v, want the reply to request 1", err)
	}
	c.Close()
	if err := <-served; err != nil {
		t.Error(err)
	}
}
