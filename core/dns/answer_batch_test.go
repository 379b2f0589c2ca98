package dns_test

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// TestAnswerBatchReadsWhatWaits: the answers waiting on a socket come in
// batches (one read for all of them on Linux), in order, each whole,
// except one longer than a later slot's buffer, which comes cut.
func TestAnswerBatchReadsWhatWaits(t *testing.T) {
	up, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	conn, err := net.DialUDP("udp", nil, up.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	long := bytes.Repeat([]byte{7}, dns.BatchSlotSize+500)
	sent := [][]byte{[]byte("first"), []byte("garbage \x00\xff"), []byte("third"), long, []byte("last")}
	for _, p := range sent {
		if _, err := up.WriteTo(p, conn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	var (
		got   [][]byte
		cut   []bool
		reads int
	)
	conn.SetReadDeadline(time.Now().Add(waitTimeout)) // a failure, not an assertion on time
	for len(got) < len(sent) {
		if err := dns.ReadAnswerBatch(conn, func(pkt []byte, c bool) {
			got = append(got, bytes.Clone(pkt))
			cut = append(cut, c)
		}); err != nil {
			t.Fatalf("after %d answers: %v", len(got), err)
		}
		reads++
	}
	for i, p := range sent {
		want, wantCut := p, false
		if i > 0 && len(p) > dns.BatchSlotSize && reads == 1 {
			want, wantCut = p[:dns.BatchSlotSize], true
		}
		if !bytes.Equal(got[i], want) || cut[i] != wantCut {
			t.Errorf("answer %d: %d bytes (cut %v), want %d (cut %v)", i, len(got[i]), cut[i], len(want), wantCut)
		}
	}
	if runtime.GOOS == "linux" && reads != 1 {
		t.Errorf("%d reads for %d waiting answers, want 1", reads, len(sent))
	}
}

// TestAsTruncated: an answer cut by the kernel becomes its header with TC
// set and its question: the query it matches is retried over TCP.
func TestAsTruncated(t *testing.T) {
	q := query("big.example.", mdns.TypeTXT)
	m := new(mdns.Msg)
	m.SetReply(q)
	for range 40 {
		rr, _ := mdns.NewRR(`big.example. 60 IN TXT "` + string(bytes.Repeat([]byte{'x'}, 200)) + `"`)
		m.Answer = append(m.Answer, rr)
	}
	pkt, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	got := new(mdns.Msg)
	if err := got.Unpack(dns.AsTruncated(pkt[:dns.BatchSlotSize])); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	if !got.Truncated || got.Id != q.Id || len(got.Question) != 1 || got.Question[0] != q.Question[0] ||
		len(got.Answer)+len(got.Ns)+len(got.Extra) != 0 {
		t.Errorf("cut answer read as %v, want TC, the ID and the question only", got)
	}
	for _, bad := range [][]byte{nil, pkt[:5], pkt[:14], []byte("\x00\x01\x81\x80\x00\x02\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01")} {
		if out := dns.AsTruncated(bytes.Clone(bad)); !bytes.Equal(out, bad) {
			t.Errorf("AsTruncated(%q) = %q, want it unchanged (garbage is dropped)", bad, out)
		}
	}
}

// TestForwardWireBurstWithGarbage: answers that come back to back, with
// garbage and a wrong ID among them, as a batch read takes them: the
// garbage is dropped and every query is answered on the wire.
func TestForwardWireBurstWithGarbage(t *testing.T) {
	checkGoroutines(t)
	const n = 6
	type held struct {
		q    *mdns.Msg
		from net.Addr
	}
	var queries []held // only the upstream's goroutine touches it
	up := startRawUpstream(t, func(u *rawUpstream, q *mdns.Msg, from net.Addr) {
		queries = append(queries, held{q, from})
		if len(queries) < n {
			return
		}
		for i, h := range queries {
			u.pc.WriteTo([]byte("\x00garbage"), h.from)
			wrong := aAnswer(h.q, h.q.Question[0].Name, "198.51.100.66")
			wrong.Id = h.q.Id ^ 0x8000
			u.send(t, wrong, h.from)
			u.send(t, aAnswer(h.q, h.q.Question[0].Name, "192.0.2."+string(rune('1'+i))), h.from)
		}
	})
	f := newForwarder(t, waitTimeout, up.addr())
	addr, _ := serveUDPWith(t, nil, f)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			name := "q" + string(rune('a'+i)) + ".example."
			c := &mdns.Client{Net: "udp", Timeout: waitTimeout}
			resp, _, err := c.Exchange(query(name, mdns.TypeA), addr)
			if err == nil && (len(resp.Answer) != 1 || resp.Answer[0].Header().Name != name) {
				err = fmt.Errorf("%s answered %v", name, resp.Answer)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := dns.ForwarderDropped(f); got != 2*n {
		t.Errorf("dropped %d answers, want %d (the garbage and the wrong IDs)", got, 2*n)
	}
	if onWire, handed := dns.ForwarderWire(f); onWire != n || handed != 0 {
		t.Errorf("%d answers on the wire, %d handed over; want %d and 0", onWire, handed, n)
	}
}
