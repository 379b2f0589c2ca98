package catalog

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/vnetproject/vnet/core/api"
)

// scriptedProxy serves WatchCatalog from a script: each stream reports its
// request, then sends what the test gives it, and ends (Unavailable) when
// the test closes its channel.
type scriptedProxy struct {
	api.UnimplementedClusterServer
	reqs    chan *api.WatchCatalogRequest
	streams chan chan *api.CatalogUpdate
}

func (p *scriptedProxy) WatchCatalog(req *api.WatchCatalogRequest, s api.Cluster_WatchCatalogServer) error {
	p.reqs <- req
	var ups chan *api.CatalogUpdate
	select {
	case ups = <-p.streams:
	case <-s.Context().Done():
		return nil
	}
	for {
		select {
		case u, ok := <-ups:
			if !ok {
				return status.Error(codes.Unavailable, "stream cut by the test")
			}
			if err := s.Send(u); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// sourceHarness runs a ProxySource against a scriptedProxy: Watch is
// called again whenever it returns, as the catalog's follower does.
type sourceHarness struct {
	proxy  *scriptedProxy
	offers chan []Cluster
	ended  chan error
}

func newSourceHarness(t *testing.T) *sourceHarness {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	p := &scriptedProxy{reqs: make(chan *api.WatchCatalogRequest, 8), streams: make(chan chan *api.CatalogUpdate)}
	api.RegisterClusterServer(srv, p)
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h := &sourceHarness{proxy: p, offers: make(chan []Cluster, 64), ended: make(chan error, 8)}
	src := NewProxySource(conn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			h.ended <- src.Watch(ctx, func(cl []Cluster) { h.offers <- cl })
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		conn.Close()
		srv.Stop()
	})
	return h
}

// stream waits for the next stream's request and returns it and the
// channel that feeds the stream.
func (h *sourceHarness) stream(t *testing.T) (*api.WatchCatalogRequest, chan *api.CatalogUpdate) {
	t.Helper()
	var req *api.WatchCatalogRequest
	select {
	case req = <-h.proxy.reqs:
	case <-time.After(time.Minute):
		t.Fatal("no WatchCatalog call")
	}
	ups := make(chan *api.CatalogUpdate, 64)
	h.proxy.streams <- ups
	return req, ups
}

func (h *sourceHarness) offer(t *testing.T) []Cluster {
	t.Helper()
	select {
	case cl := <-h.offers:
		return cl
	case <-time.After(time.Minute):
		t.Fatal("no offer")
		return nil
	}
}

func appNames(cl []Cluster) []string {
	var out []string
	for _, a := range cl[0].Apps {
		out = append(out, a.Name+"="+a.PublicAddr)
	}
	return out
}

var testConfig = &api.VNetConfig{Ipv4CidrRange: "100.64.0.0/10"}

func page(rev int64, resync, more bool, apps ...string) *api.CatalogUpdate {
	u := &api.CatalogUpdate{Revision: rev, Resync: resync, More: more, Apps: &api.ListAppsResponse{ClusterName: "root", ProxyPublicAddr: "proxy.test:3080"}}
	if resync {
		u.Config = testConfig
	}
	for _, a := range apps {
		u.Apps.Apps = append(u.Apps.Apps, &api.App{Name: a, PublicAddr: a + ".proxy.test"})
	}
	return u
}

func wantApps(t *testing.T, cl []Cluster, want ...string) {
	t.Helper()
	var got []string
	for _, a := range cl[0].Apps {
		got = append(got, a.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("apps %v, want %v", got, want)
	}
}

func TestProxySourceDeltas(t *testing.T) {
	h := newSourceHarness(t)
	req, ups := h.stream(t)
	if !req.GetDeltas() || req.GetResumeRevision() != 0 {
		t.Fatalf("first request %v: want deltas from scratch", req)
	}
	// A full set in two pages: offered once, whole.
	ups <- page(10, true, true, "a", "b")
	ups <- page(10, false, false, "c")
	wantApps(t, h.offer(t), "a", "b", "c")

	// Add, change, remove.
	ups <- page(11, false, false, "d")
	wantApps(t, h.offer(t), "a", "b", "c", "d")
	changed := page(12, false, false)
	changed.Apps.Apps = []*api.App{{Name: "a", PublicAddr: "a2.proxy.test"}}
	ups <- changed
	if cl := h.offer(t); cl[0].Apps[0].PublicAddr != "a2.proxy.test" {
		t.Fatalf("after a change: %v", appNames(cl))
	}
	ups <- &api.CatalogUpdate{Revision: 13, Removed: []string{"b", "not-there"}}
	wantApps(t, h.offer(t), "a", "c", "d")

	// A re-sync mid-stream: nothing is offered until its last page (the
	// old set stays), then the new set replaces it whole.
	ups <- page(20, true, true, "x")
	ups <- page(20, false, false, "y")
	wantApps(t, h.offer(t), "x", "y")
	ups <- page(21, false, false, "z")
	cl := h.offer(t)
	wantApps(t, cl, "x", "y", "z")
	if cl[0].Revision != 21 {
		t.Fatalf("offer at revision %d, want 21 (the last update's, for vnet_catalog_revision)", cl[0].Revision)
	}

	// Leaves still answering: the offer says so, until they have.
	pending := page(22, false, false)
	pending.LeavesPending = true
	ups <- pending
	if cl := h.offer(t); !cl[0].LeavesPending {
		t.Fatal("leaves pending: the offer does not say so")
	}
	ups <- &api.CatalogUpdate{Revision: 22, LeavesSet: true, Leaves: []*api.LeafCatalog{{Config: testConfig, Apps: &api.ListAppsResponse{ClusterName: "leaf"}}}}
	if cl := h.offer(t); cl[0].LeavesPending || len(cl) != 2 || cl[1].Name != "leaf" {
		t.Fatalf("after the leaves answered: %d clusters, pending %v", len(cl), cl[0].LeavesPending)
	}
}

func TestProxySourceResumes(t *testing.T) {
	h := newSourceHarness(t)
	_, ups := h.stream(t)
	ups <- page(5, true, false, "a", "b")
	h.offer(t)
	ups <- page(6, false, false, "c")
	h.offer(t)
	close(ups) // the stream breaks

	// Resumed: the proxy sends only what changed since revision 6.
	req, ups := h.stream(t)
	if got := req.GetResumeRevision(); got != 6 {
		t.Fatalf("resume revision %d, want 6", got)
	}
	ups <- &api.CatalogUpdate{Revision: 7, Removed: []string{"a"}}
	wantApps(t, h.offer(t), "b", "c")
	close(ups)

	// Not resumed: the proxy cannot (the revision is too old) and sends a
	// full set; what it lacks is gone.
	req, ups = h.stream(t)
	if got := req.GetResumeRevision(); got != 7 {
		t.Fatalf("resume revision %d, want 7", got)
	}
	ups <- page(40, true, false, "z")
	wantApps(t, h.offer(t), "z")
	close(ups)

	// A stream that breaks in the middle of a full set resumes from the
	// last complete one.
	req, ups = h.stream(t)
	if got := req.GetResumeRevision(); got != 40 {
		t.Fatalf("resume revision %d, want 40", got)
	}
	ups <- page(50, true, true, "half")
	close(ups)
	req, ups = h.stream(t)
	if got := req.GetResumeRevision(); got != 40 {
		t.Fatalf("after a half-sent set: resume revision %d, want 40", got)
	}
	ups <- page(51, false, false, "y")
	wantApps(t, h.offer(t), "y", "z")
}

func TestProxySourceOlderProxy(t *testing.T) {
	// A proxy that ignores deltas sends the whole catalog each time.
	h := newSourceHarness(t)
	_, ups := h.stream(t)
	whole := func(apps ...string) *api.CatalogUpdate {
		u := page(0, false, false, apps...)
		u.Config = testConfig
		return u
	}
	ups <- whole("a", "b")
	wantApps(t, h.offer(t), "a", "b")
	ups <- whole("b")
	wantApps(t, h.offer(t), "b")
}

func TestProxySourceChangeBeforeSet(t *testing.T) {
	// A proxy that sends a change before any full set is broken: the
	// stream ends and the next starts from scratch.
	h := newSourceHarness(t)
	_, ups := h.stream(t)
	ups <- page(3, false, false, "a")
	select {
	case err := <-h.ended:
		if err == nil || !strings.Contains(err.Error(), "before any full set") {
			t.Fatalf("stream ended with %v, want the change before any full set named", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the stream went on")
	}
	req, _ := h.stream(t)
	if req.GetResumeRevision() != 0 {
		t.Fatalf("after a broken stream: resume revision %d, want 0", req.GetResumeRevision())
	}
}
