package main

import (
	"os"
	"runtime"
)

// ProcessStats are figures of the whole process, for leak checks: after
// any number of start/stop cycles they must come back to where they were.
type ProcessStats struct {
	Goroutines int `json:"goroutines"`
	// OpenFDs counts open file descriptors; -1 where the OS does not say.
	OpenFDs int `json:"open_fds"`
}

func processStats() ProcessStats {
	return ProcessStats{Goroutines: runtime.NumGoroutine(), OpenFDs: openFDs()}
}

// fdDirs list a process's own descriptors: Linux's /proc, and /dev/fd on
// macOS (where /proc does not exist).
var fdDirs = []string{"/proc/self/fd", "/dev/fd"}

// openFDs counts the process's open descriptors, not counting the one it
// opens to read the directory.
func openFDs() int {
	for _, dir := range fdDirs {
		if entries, err := os.ReadDir(dir); err == nil {
			return len(entries) - 1
		}
	}
	return -1
}
