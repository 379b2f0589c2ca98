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
// writer. The file is opened non-blocking, so a FIFO opens at once and is
// refused.
func readResolvConf(path string, deadline time.Time) ([]byte, error) {
	return within(deadline, func() ([]byte, error) { return readRegular(path, maxResolvConf) })
}

// within runs read on its own goroutine and gives up on it at deadline,
// so that a file system that hangs cannot hold vnet_start past its
// start_timeout_ms; such a goroutine ends (closing its file) when its
// read does.
func within(deadline time.Time, read func() ([]byte, error)) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := read()
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

// readRegular reads the regular file at path if it holds at most limit
// bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
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
