package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// What `vnet up`'s two processes give back to the OS when they go idle.
//
// Most of an idle process's resident memory is not its heap but the pages
// of this binary it has touched: its start-up runs the initialisers of
// every package linked in (the cluster's too), and the kernel maps each
// touched page with its neighbours, so an idle engine or root helper had
// 20-22 MiB of the binary resident and 4 MiB of heap (docs/benchmarks.md,
// "Memory (issue 12)"). Those pages are clean copies of the file, shared
// with every other vnet process and kept in the page cache either way;
// dropping them from the process's page tables costs a page fault the
// next time one is used. After a burst of traffic the heap also holds
// garbage until the next collection, which an idle process may not run
// for two minutes, and the runtime returns freed memory to the OS slowly.

// idleTick is how often trimWhenIdle looks; idleAllocs is how much a
// process may allocate between two looks and still count as idle (an
// idle engine answers a few DNS queries and keepalives).
const (
	idleTick   = 2 * time.Second
	idleAllocs = 1 << 20
)

// trimWhenIdle calls trimMemory each time the process goes from busy to
// idle (start-up counts as busy), until ctx ends.
func trimWhenIdle(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	last, busy := uint64(0), true
	t := time.NewTicker(idleTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		now := sample[0].Value.Uint64()
		allocated := now - last
		last = now
		switch {
		case allocated >= idleAllocs:
			busy = true
		case busy:
			busy = false
			trimMemory()
		}
	}
}

// trimMemory collects garbage, returns the free heap to the OS, and drops
// the clean file pages the process maps (dropCleanFilePages). It collects
// twice: a sync.Pool keeps what it held until the second collection after
// its last use (the first moves it to a victim cache), and the buffers
// pooled under traffic (the tunnel's frames, gVisor's chunks, gRPC's)
// were most of an idle engine's heap after a bulk transfer.
func trimMemory() {
	runtime.GC()
	debug.FreeOSMemory()
	dropCleanFilePages()
}

// dropCleanFilePages removes from the process's page tables every
// read-only, file-backed mapping none of whose pages is the process's
// own (no anonymous pages): the binary's code and read-only data, shared
// libraries. They come back from the page cache when used (MADV_DONTNEED
// on such a mapping re-reads the file). A mapping with a page of its own
// (a breakpoint a debugger wrote, relocations made read-only: a private
// copy of a page is anonymous) is left alone: dropping it would lose that
// page. A page smaps counts as private dirty but not anonymous is the
// file's own page, dirty in the page cache because the file was written
// lately (a binary just built or installed): dropping it from the page
// tables loses nothing, and judging by it kept the whole binary mapped
// for the half minute before the kernel wrote it back.
func dropCleanFilePages() {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	for _, m := range cleanFileMappings(f) {
		unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED) //nolint:errcheck // best effort
	}
}

// mapping is an address range of /proc/self/smaps.
type mapping struct{ start, end uintptr }

// cleanFileMappings are the mappings of an smaps listing that
// dropCleanFilePages may drop: file-backed, not writable, and without
// anonymous or swapped pages.
func cleanFileMappings(smaps io.Reader) []mapping {
	var (
		out  []mapping
		cur  mapping
		ok   bool // cur is a candidate so far
		have bool // cur was read
	)
	flush := func() {
		if have && ok {
			out = append(out, cur)
		}
	}
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Bytes()
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if name := string(fields[0]); !strings.HasSuffix(name, ":") {
			// A mapping's header: "start-end perms offset dev inode path".
			flush()
			cur, ok, have = parseMapping(fields)
			continue
		}
		switch string(fields[0]) {
		case "Anonymous:", "Swap:":
			if len(fields) < 2 || string(fields[1]) != "0" {
				ok = false
			}
		}
	}
	flush()
	if sc.Err() != nil {
		return nil
	}
	return out
}

// parseMapping reads an smaps header line; ok says whether the mapping is
// read-only and backed by a file (a path, not [heap], [stack] or none).
func parseMapping(fields [][]byte) (m mapping, ok, parsed bool) {
	if len(fields) < 5 {
		return m, false, false
	}
	lo, hi, found := strings.Cut(string(fields[0]), "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if !found || err1 != nil || err2 != nil || end <= start {
		return m, false, false
	}
	m = mapping{uintptr(start), uintptr(end)}
	perms := string(fields[1])
	inode := string(fields[4])
	fileBacked := len(fields) >= 6 && inode != "0" && !strings.HasPrefix(string(fields[5]), "[")
	return m, fileBacked && len(perms) == 4 && perms[1] == '-' && perms[3] == 'p', true
}
