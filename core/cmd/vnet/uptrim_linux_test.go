package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

const smapsSample = `00400000-00e50000 r-xp 00000000 fd:01 1234 /usr/local/bin/vnet
Size:              10560 kB
Rss:                8896 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd ex mr mw me
00e50000-01b1d000 r--p 00a50000 fd:01 1234 /usr/local/bin/vnet
Private_Dirty:       192 kB
Anonymous:             0 kB
01b1d000-01b9e000 rw-p 0171d000 fd:01 1234 /usr/local/bin/vnet
Private_Dirty:       452 kB
Anonymous:           452 kB
01b9e000-03be6000 rw-p 00000000 00:00 0
Private_Dirty:       100 kB
7f0000000000-7f0000001000 r--p 00000000 fd:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Private_Dirty:         4 kB
Anonymous:             4 kB
7f0000002000-7f0000003000 r-xp 00000000 fd:01 77 /usr/local/bin/vnet (deleted)
Private_Dirty:         4 kB
Anonymous:             4 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Private_Dirty:        12 kB
7ffd00030000-7ffd00032000 r--p 00000000 00:00 0                          [vvar]
Private_Dirty:         0 kB
7ffd00040000-7ffd00041000 r--s 00000000 fd:01 55 /dev/shm/shared
Private_Dirty:         0 kB
`

// TestCleanFileMappings: only read-only, private, file-backed mappings
// without a page of the process's own are dropped; a page a debugger or
// the dynamic loader wrote (anonymous) keeps its mapping. A file's page
// that is dirty in the page cache (private dirty, not anonymous: a binary
// just built) is the file's, not the process's, and does not.
func TestCleanFileMappings(t *testing.T) {
	got := cleanFileMappings(strings.NewReader(smapsSample))
	want := []mapping{{0x400000, 0xe50000}, {0xe50000, 0x1b1d000}}
	if !slices.Equal(got, want) {
		t.Errorf("cleanFileMappings = %x, want %x", got, want)
	}
}

// TestTrimMemory: the test binary keeps running after its code and
// read-only data are dropped from its page tables and its heap returned.
func TestTrimMemory(t *testing.T) {
	before := len(cleanFileMappingsOfSelf(t))
	trimMemory()
	s := strings.Repeat("x", 1<<16) // run code, allocate, after the trim
	if len(s) != 1<<16 || before == 0 {
		t.Errorf("no clean file mapping found in this process (%d)", before)
	}
}

func cleanFileMappingsOfSelf(t *testing.T) []mapping {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return cleanFileMappings(f)
}
