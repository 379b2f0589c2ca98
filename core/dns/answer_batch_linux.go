package dns

import (
	"net"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSlots holds the later slots' buffers of the readers.
var batchSlots = sync.Pool{New: func() any {
	b := make([]byte, (answerBatchSize-1)*batchSlotSize)
	return &b
}}

// answerBufs are the buffers of one batch: bufs[0] the largest message,
// the others batchSlotSize bytes. release returns them.
func answerBufs() (bufs [answerBatchSize][]byte, release func()) {
	first := readBufs.Get().(*[]byte)
	rest := batchSlots.Get().(*[]byte)
	bufs[0] = *first
	for i := 1; i < answerBatchSize; i++ {
		bufs[i] = (*rest)[(i-1)*batchSlotSize : i*batchSlotSize : i*batchSlotSize]
	}
	return bufs, func() {
		readBufs.Put(first)
		batchSlots.Put(rest)
	}
}

// mmsghdr is struct mmsghdr (recvmmsg(2)), which x/sys/unix lacks; Go
// lays it out as C does on 32- and 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// answerBatch reads a socket's answers with recvmmsg, through the
// runtime's poller: it waits, as a Read does, when none is there.
type answerBatch struct {
	rc      syscall.RawConn
	bufs    [answerBatchSize][]byte
	iovs    [answerBatchSize]unix.Iovec
	hdrs    [answerBatchSize]mmsghdr
	release func()
	// got and errno are the last recvmmsg's; readFn is the function
	// given to rc.Read, made once (a closure per read would be an
	// allocation).
	got    int
	errno  syscall.Errno
	readFn func(fd uintptr) bool
}

func newAnswerBatch(conn *net.UDPConn) (*answerBatch, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &answerBatch{rc: rc}
	b.bufs, b.release = answerBufs()
	for i := range b.bufs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(len(b.bufs[i]))
		b.hdrs[i].hdr.Iov = &b.iovs[i]
		b.hdrs[i].hdr.SetIovlen(1)
	}
	b.readFn = b.recvmmsg
	return b, nil
}

func (b *answerBatch) recvmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), answerBatchSize, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until the socket is readable, then call again
		}
		b.got, b.errno = int(n), errno
		return true
	}
}

// read waits for answers and calls each with every one read (valid only
// during the call; cut when the kernel cut it to fit its slot).
func (b *answerBatch) read(each func(pkt []byte, cut bool)) error {
	if err := b.rc.Read(b.readFn); err != nil {
		return err
	}
	if b.errno != 0 {
		return b.errno
	}
	for i := range b.got {
		h := &b.hdrs[i]
		each(b.bufs[i][:h.n], h.hdr.Flags&unix.MSG_TRUNC != 0)
		h.hdr.Flags = 0
	}
	return nil
}

func (b *answerBatch) close() { b.release() }
