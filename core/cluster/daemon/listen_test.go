package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/config"
)

// TestBadListenAddrCreatesNothing: a listen address that cannot be bound
// (here an address of no interface of this machine) is found before the
// data directory, its database and the CA are created (issue 14).
func TestBadListenAddrCreatesNothing(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse([]byte("data_dir: " + dataDir + "\nproxy_service:\n  listen_addr: 192.0.2.1:3080\n  public_addr: proxy.example.test:3080\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(context.Background(), cfg, nil)
	if err == nil {
		d.Close()
		t.Fatal("started on 192.0.2.1; want a refusal")
	}
	if !strings.HasPrefix(err.Error(), "proxy_service.listen_addr: ") {
		t.Errorf("error %q, want it to name proxy_service.listen_addr", err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("data_dir exists after the refusal (%v): the database and CA were made first", err)
	}
}
