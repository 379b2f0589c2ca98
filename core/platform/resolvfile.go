package platform

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// DefaultResolvConfPath is the resolver configuration VNet rewrites in
// resolv.conf mode. Under `ip netns exec NS` it is a bind mount of
// /etc/netns/NS/resolv.conf.
const DefaultResolvConfPath = "/etc/resolv.conf"

// OriginalResolvConf returns the resolver configuration in force before VNet:
// the file as it is, or — if a VNet left its own file behind — the original
// that VNet's file carries inside it. Callers parse it to learn the upstream
// resolvers.
func OriginalResolvConf(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resolver configuration: %w", err)
	}
	if orig, _, ok := unwrapResolvConf(b); ok {
		return orig, nil
	}
	return b, nil
}

// RestoreStale puts back the original resolv.conf left behind by a VNet that
// died. It does nothing if the file is not VNet's or was written by this
// process, and returns ErrResolvConfInUse if the VNet that wrote it is still
// running. Called at start, before anything is applied.
func RestoreStale(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read resolver configuration: %w", err)
	}
	orig, pid, ok := unwrapResolvConf(b)
	if !ok || pid == os.Getpid() {
		return nil
	}
	if processAlive(pid) {
		return fmt.Errorf("%s (pid %d): %w", path, pid, ErrResolvConfInUse)
	}
	return writeInPlace(path, orig)
}

// writeInPlace replaces the content of path without replacing the file:
// under `ip netns exec` the path is a bind mount point, and renaming over a
// mount point fails (EBUSY). The file must exist; VNet never creates a
// resolver configuration where there was none.
//
// A process killed in the middle must not leave the machine without DNS
// (a helper killed while it restores the original is the common case), so
// the file is never empty or half written: one write puts b over the old
// content, padded to the old length with a comment (inPlaceFirstWrite),
// then the file is cut to b's length. Between the two the file says what b
// says.
func writeInPlace(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open resolver configuration: %w", err)
	}
	var werr error
	if fi, err := f.Stat(); err != nil {
		werr = err
	} else if _, err := f.WriteAt(inPlaceFirstWrite(b, fi.Size()), 0); err != nil {
		werr = err
	} else {
		werr = f.Truncate(int64(len(b)))
	}
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("write resolver configuration: %w", err)
	}
	return nil
}

// inPlaceFirstWrite is b, and when the file it replaces is longer (oldLen),
// a comment that covers the rest of the old content: a resolver reading the
// file before it is cut to len(b) sees b and a comment line.
func inPlaceFirstWrite(b []byte, oldLen int64) []byte {
	pad := oldLen - int64(len(b))
	if pad <= 0 {
		return b
	}
	out := make([]byte, 0, oldLen)
	out = append(out, b...)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		out = append(out, '\n')
	}
	if int64(len(out)) < oldLen {
		out = append(out, '#')
	}
	for int64(len(out)) < oldLen {
		out = append(out, ' ')
	}
	return out
}

// processAlive reports whether pid is a running process of the same program
// as this one. Comparing program names (where /proc tells them) keeps a pid
// reused after a crash or reboot from looking like a live VNet, which would
// otherwise block every later start.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	defer p.Release()
	if err := p.Signal(syscall.Signal(0)); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	theirs, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	ours, err2 := os.ReadFile("/proc/self/comm")
	if err1 == nil && err2 == nil && !bytes.Equal(theirs, ours) {
		return false
	}
	return true
}
