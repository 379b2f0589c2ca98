package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// maxResolvConf bounds the resolv.conf vnet_start reads: real ones are a
// few hundred bytes.
const maxResolvConf = 64 << 10

// readResolvConf reads the resolv.conf at path for vnet_start, by
// deadline. Only a regular file of at most maxResolvConf bytes is read: a
// device such as /dev/zero would never end, and a FIFO would wait for a
// writer. The file is opened non-blocking (a FIFO then opens at once and is
// refused), and the read runs on its own goroutine so that a file system
// that hangs cannot hold vnet_start past its deadline; such a goroutine
// ends, closing the file, when the read does.
func readResolvConf(path string, deadline time.Time) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := readRegular(path, maxResolvConf)
		done <- result{data, err}
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case r := <-done:
		return r.data, r.err
	case <-timer.C:
		return nil, errors.New("not read within start_timeout_ms")
	}
}

// openResolvConf opens path for reading without waiting (for a FIFO's
// writer); a test replaces it with a blocking open.
var openResolvConf = func(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// readRegular reads the regular file at path if it holds at most limit
// bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := openResolvConf(path)
	if err != nil {
		return nil, errors.New(fileError(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.New(fileError(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fileKind(fi.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, errors.New(fileError(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d KiB", limit>>10)
	}
	return data, nil
}

// fileKind names the type of a file that is not a regular one.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "not a plain file"
}
