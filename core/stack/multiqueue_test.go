package stack_test

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/stack"
)

// spreadIO plays a multi-queue TUN over a one-queue PacketIO: a pump reads
// the PacketIO and puts each packet on a queue by its flow, as the
// kernel's automq does. Flows are given queues in turn as they first
// appear, so that n flows cover every queue, whatever their ports.
type spreadIO struct {
	stack.PacketIO
	t      testing.TB
	queues []chan []byte
	once   sync.Once
	done   chan struct{}   // closed when the pump has ended
	err    error           // the PacketIO's read error; set before done closes
	read   []atomic.Uint64 // per queue, the packets ReadQueue returned
}

func newSpreadIO(t testing.TB, pio stack.PacketIO, n int) *spreadIO {
	s := &spreadIO{PacketIO: pio, t: t, done: make(chan struct{})}
	for range n {
		s.queues = append(s.queues, make(chan []byte, 64))
	}
	s.read = make([]atomic.Uint64, n)
	return s
}

func (s *spreadIO) Queues() int { return len(s.queues) }

func (s *spreadIO) ReadPackets([][]byte, []int) (int, error) {
	s.t.Error("ReadPackets called on a multi-queue PacketIO")
	return 0, errors.New("not a single-queue PacketIO")
}

func (s *spreadIO) ReadQueue(q int, bufs [][]byte, sizes []int) (int, error) {
	s.once.Do(func() { go s.pump() })
	select {
	case p := <-s.queues[q]:
		sizes[0] = copy(bufs[0], p)
		s.read[q].Add(1)
		return 1, nil
	case <-s.done:
		return 0, s.err
	}
}

// pump moves packets from the PacketIO to the queues until a read fails.
func (s *spreadIO) pump() {
	defer close(s.done)
	flows := map[string]int{}
	buf := make([]byte, 1<<16)
	sizes := make([]int, 1)
	for {
		if _, err := s.PacketIO.ReadPackets([][]byte{buf}, sizes); err != nil {
			s.err = err
			return
		}
		p := slices.Clone(buf[:sizes[0]])
		key := flowKey(p)
		q, ok := flows[key]
		if !ok {
			q = len(flows) % len(s.queues)
			flows[key] = q
		}
		select {
		case s.queues[q] <- p:
		default: // full: lost, as on a wire
		}
	}
}

// flowKey names the flow of an IPv4 TCP or UDP packet, the same both ways;
// anything else is one flow.
func flowKey(p []byte) string {
	if len(p) < 24 || p[0]>>4 != 4 {
		return ""
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+4 {
		return ""
	}
	a := fmt.Sprintf("%x:%x", p[12:16], p[ihl:ihl+2])
	b := fmt.Sprintf("%x:%x", p[16:20], p[ihl+2:ihl+4])
	if a > b {
		a, b = b, a
	}
	return fmt.Sprint(p[9], a, b)
}

// TestMultiQueueReachesStack: with a PacketIO of several queues, the
// packets of every queue reach the netstack, each read on a goroutine of
// its own: connections whose flows are spread over all the queues each
// carry their data both ways, and every queue's count moves.
func TestMultiQueueReachesStack(t *testing.T) {
	checkGoroutines(t)
	const queues, conns = 4, 8
	var spread *spreadIO
	p := newPairIO(t, stack.Config{HandleTCP: relayTo(startEcho(t), nil)}, func(pio stack.PacketIO) stack.PacketIO {
		spread = newSpreadIO(t, pio, queues)
		return spread
	})
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			conn, err := p.host.DialTCP(ctxTimeout(t), netip.Addr{}, netip.AddrPortFrom(netip.MustParseAddr("100.64.1.7"), uint16(5000+i)))
			if err != nil {
				t.Errorf("DialTCP %d: %v", i, err)
				return
			}
			defer conn.Close()
			// roundTrip, without its t.Fatal (not from this goroutine).
			conn.SetDeadline(time.Now().Add(waitLong))
			msg := fmt.Sprint("hello from connection ", i)
			if _, err := conn.Write([]byte(msg)); err != nil {
				t.Errorf("connection %d: write: %v", i, err)
				return
			}
			if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Errorf("connection %d: CloseWrite: %v", i, err)
				return
			}
			got, err := io.ReadAll(conn)
			if err != nil || string(got) != msg+trailer {
				t.Errorf("connection %d echoed %q, %v; want %q", i, got, err, msg+trailer)
			}
		})
	}
	wg.Wait()
	for q := range queues {
		if spread.read[q].Load() == 0 {
			t.Errorf("the stack read no packet from queue %d of %d", q, queues)
		}
	}
}
