package platform

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// TUN is a Linux TUN device (IFF_TUN|IFF_NO_PI): each read or write is one
// raw IP packet. It implements stack.PacketIO. The device exists while the
// TUN is open and disappears, with its addresses and routes, when it closes
// (or the process dies), so a crash leaves no device behind.
//
// It is opened with IFF_VNET_HDR and checksum and TCP segmentation offload
// (TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6), as wireguard-go and tailscaled open
// theirs: each packet then starts with a virtio_net_hdr, and the kernel
// sends and takes TCP super-segments of up to 64 KiB whose checksum is left
// to the receiver, whatever the MTU. VirtioNetHdr tells the stack so.
//
// A TUN may have several queues (IFF_MULTI_QUEUE, tunqueues_linux.go), each
// a descriptor of its own that the stack reads on a goroutine of its own.
type TUN struct {
	name string // the kernel's name for the device; never empty
	// files are the queues, non-blocking, under Go's poller; at least one.
	files []*os.File

	closeOnce sync.Once
	closeErr  error // set once by Close
}

// OpenTUN creates the TUN device name (e.g. "vnet0"; a "%d" in it lets the
// kernel pick a number) with the given number of queues (1 to MaxTUNQueues;
// 1 is a plain, single-queue device) and, unless mtu is 0, sets its MTU.
// The device is left down; Configurator.Apply sets it up.
func OpenTUN(name string, mtu, queues int) (*TUN, error) {
	if queues < 1 || queues > MaxTUNQueues {
		return nil, fmt.Errorf("open TUN %q: %d queues, want 1 to %d", name, queues, MaxTUNQueues)
	}
	t := &TUN{name: name}
	for range queues {
		fd, dev, err := openQueue(t.name, queues > 1)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("open TUN %q: %w", name, err)
		}
		// The first queue creates the device and learns its name; the
		// others attach to it by that name.
		t.name = dev
		t.files = append(t.files, os.NewFile(uintptr(fd), dev))
	}
	if mtu != 0 {
		if err := setMTU(t.name, mtu); err != nil {
			t.Close()
			return nil, fmt.Errorf("create TUN %q: %w", name, err)
		}
	}
	return t, nil
}

// openQueue opens one queue of the TUN device name, creating the device if
// it does not exist, and returns its descriptor, non-blocking (so that
// os.NewFile puts it under the poller: only then does Close wake a
// goroutine blocked in a read), and the device's name.
func openQueue(name string, multi bool) (int, string, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return -1, "", err
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("/dev/net/tun: %w", err)
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if multi {
		flags |= unix.IFF_MULTI_QUEUE
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("create: %w", err)
	}
	// The kernel sends us super-segments only after TUNSETOFFLOAD; it
	// takes them from us (a GSO type in the header) either way. A kernel
	// that refuses still works, with MTU-sized packets and full checksums.
	// The offloads are the device's, but set through any attached queue:
	// setting them on each is harmless and leaves no queue unsure.
	_ = unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("set non-blocking: %w", err)
	}
	return fd, ifr.Name(), nil
}

// setMTU sets the MTU of the device name through an ioctl on a throwaway
// socket (the TUN fd does not take SIOCSIFMTU).
func setMTU(name string, mtu int) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("set MTU: %w", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("set MTU: %w", err)
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, ifr); err != nil {
		return fmt.Errorf("set MTU %d: %w", mtu, err)
	}
	return nil
}

// Name returns the device's name as the kernel knows it.
func (t *TUN) Name() string { return t.name }

// VirtioNetHdr implements stack.Offloader: every packet read or written
// starts with a virtio_net_hdr.
func (t *TUN) VirtioNetHdr() bool { return true }

// BatchSize implements stack.Batcher: a TUN moves one packet per read(2)
// and write(2).
func (t *TUN) BatchSize() int { return 1 }

// ReadPackets reads queue 0 (ReadQueue): the whole device when it has one
// queue.
func (t *TUN) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	return t.ReadQueue(0, bufs, sizes)
}

// ReadQueue implements stack.MultiQueue: it blocks until a packet arrives
// on queue q and reads it into bufs[0], one packet per call. bufs[0] must
// hold the virtio_net_hdr and 64 KiB; the kernel cuts longer packets
// short. After Close it returns an error matching os.ErrClosed.
func (t *TUN) ReadQueue(q int, bufs [][]byte, sizes []int) (int, error) {
	if len(bufs) == 0 || len(sizes) == 0 {
		return 0, nil
	}
	n, err := t.files[q].Read(bufs[0])
	if err != nil {
		return 0, err
	}
	sizes[0] = n
	return 1, nil
}

// WritePackets hands each packet to the kernel, on the queue its flow
// belongs to (writeQueue). A packet the kernel refuses does not stop the
// others; the first failure is returned.
func (t *TUN) WritePackets(pkts [][]byte) error {
	var first error
	for _, p := range pkts {
		if _, err := t.files[t.writeQueue(p)].Write(p); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return err
			}
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// Close removes the device and wakes blocked reads. It is idempotent.
func (t *TUN) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		for _, f := range t.files {
			errs = append(errs, f.Close())
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}
