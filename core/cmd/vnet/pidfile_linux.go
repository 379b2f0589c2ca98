package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// pidFileName is the running VNet's pid file in its state directory. The
// file is locked (flock) while VNet runs: the kernel drops the lock when
// the process ends, however it ends, so a crash leaves no stale lock; the
// pid inside is for messages and for `vnet down`.
const pidFileName = "vnet.pid"

// errAlreadyRunning is a second `vnet up` on the same state directory.
var errAlreadyRunning = errors.New("VNet is already running")

// pidLock is the lock of a running VNet; nil-safe Close releases it.
type pidLock struct{ f *os.File }

// lockPID takes the pid file of dir for this process, or returns an error
// wrapping errAlreadyRunning with the other VNet's pid.
func lockPID(dir string) (*pidLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, pidFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if pid, ok := readPID(path); ok {
				return nil, fmt.Errorf("%w (pid %d): stop it with 'sudo vnet down'", errAlreadyRunning, pid)
			}
			return nil, fmt.Errorf("%w: stop it with 'sudo vnet down'", errAlreadyRunning)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &pidLock{f: f}, nil
}

// Close releases the lock and removes the file.
func (l *pidLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	os.Remove(l.f.Name())
	err := l.f.Close()
	l.f = nil
	return err
}

// runningPID is the pid of the VNet that holds dir's pid file, or 0 when
// none does (never started, stopped, or crashed: the lock is free).
func runningPID(dir string) int {
	path := filepath.Join(dir, pidFileName)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0
	}
	pid, _ := readPID(path)
	return pid
}

func readPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}
