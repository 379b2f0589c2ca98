package vnet

import (
	"context"
	"net/netip"
	"testing"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/stack"
)

// plainHost is a Host with no optional PacketIO interfaces.
type plainHost struct{ stack.PacketIO }

func (plainHost) ApplySettings(context.Context, netcfg.Settings) error { return nil }
func (plainHost) LocalPrefixes() []netip.Prefix                        { return nil }

// tunLikeHost is a Host whose packets carry a virtio_net_hdr, one per call,
// as the Linux TUN's.
type tunLikeHost struct{ plainHost }

func (tunLikeHost) VirtioNetHdr() bool { return true }
func (tunLikeHost) BatchSize() int     { return 1 }

// multiQueueHost is a TUN-like Host with three queues; ReadQueue reports
// the queue it was asked for as the packet's size.
type multiQueueHost struct{ tunLikeHost }

func (multiQueueHost) Queues() int { return 3 }
func (multiQueueHost) ReadQueue(q int, bufs [][]byte, sizes []int) (int, error) {
	sizes[0] = q
	return 1, nil
}

// TestHostIOPassesOffloads: the engine's PacketIO stands in for the host
// and must tell the stack what the host's packets look like; a TUN's
// virtio_net_hdr hidden behind it would reach gVisor as garbage, and a
// queue hidden behind it would never be read (its flows lost).
func TestHostIOPassesOffloads(t *testing.T) {
	tests := []struct {
		name      string
		host      Host
		wantHdr   bool
		wantBatch int
		queues    int
	}{
		{name: "TUN with offloads", host: tunLikeHost{}, wantHdr: true, wantBatch: 1, queues: 1},
		{name: "multi-queue TUN", host: multiQueueHost{}, wantHdr: true, wantBatch: 1, queues: 3},
		{name: "plain PacketIO (the bridge)", host: plainHost{}, wantHdr: false, wantBatch: 0, queues: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var io stack.PacketIO = hostIO{&Runner{host: tt.host}}
			o, ok := io.(stack.Offloader)
			if !ok || o.VirtioNetHdr() != tt.wantHdr {
				t.Errorf("VirtioNetHdr: implemented %v, got %v; want %v", ok, ok && o.VirtioNetHdr(), tt.wantHdr)
			}
			b, ok := io.(stack.Batcher)
			if !ok || b.BatchSize() != tt.wantBatch {
				t.Errorf("BatchSize: implemented %v; want %d", ok, tt.wantBatch)
			}
			m, ok := io.(stack.MultiQueue)
			if !ok || m.Queues() != tt.queues {
				t.Fatalf("Queues: implemented %v; want %d", ok, tt.queues)
			}
			for q := 1; q < tt.queues; q++ {
				sizes := []int{-1}
				if _, err := m.ReadQueue(q, [][]byte{nil}, sizes); err != nil || sizes[0] != q {
					t.Errorf("ReadQueue(%d) read queue %d, %v", q, sizes[0], err)
				}
			}
		})
	}
}
