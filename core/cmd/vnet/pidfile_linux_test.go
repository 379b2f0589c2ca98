package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestOneVNetPerStateDir: a second `vnet up` on the same state directory
// says which VNet runs; the lock goes with the first, and a stale file
// (a crash leaves the pid behind, not the lock) blocks nothing.
func TestOneVNetPerStateDir(t *testing.T) {
	dir := t.TempDir()
	if pid := runningPID(dir); pid != 0 {
		t.Fatalf("runningPID before any VNet = %d", pid)
	}
	first, err := lockPID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pid := runningPID(dir); pid != os.Getpid() {
		t.Errorf("runningPID = %d, want %d", pid, os.Getpid())
	}
	_, err = lockPID(dir)
	if !errors.Is(err, errAlreadyRunning) || !strings.Contains(err.Error(), fmt.Sprintf("VNet is already running (pid %d)", os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	first.Close()
	if pid := runningPID(dir); pid != 0 {
		t.Errorf("runningPID after Close = %d", pid)
	}
	// What kill -9 leaves: the file with a pid, and no lock.
	if err := os.WriteFile(dir+"/"+pidFileName, []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid := runningPID(dir); pid != 0 {
		t.Errorf("runningPID with a stale file = %d, want 0", pid)
	}
	again, err := lockPID(dir)
	if err != nil {
		t.Fatalf("lock after a crash: %v", err)
	}
	again.Close()
}
