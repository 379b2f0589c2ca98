package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// openStore opens the backend cluster.yaml's storage section names: the
// embedded database in data_dir, or etcd.
func openStore(ctx context.Context, cfg *config.File, log *slog.Logger) (store.Store, error) {
	switch cfg.Storage.Type {
	case config.StorageEtcd:
		st, err := store.OpenEtcd(ctx, cfg.Storage.Etcd())
		if err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		// etcd can lose its quorum while the proxy runs: reads are then
		// served from a copy of what it held, followed by its watch.
		m, err := store.NewMirror(ctx, st, log)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("storage: %w", err)
		}
		return m, nil
	default:
		return store.OpenBolt(filepath.Join(cfg.DataDir, dbFile))
	}
}

// peerAddr is where the other proxies of the cluster reach this one:
// proxy_service.peer_addr, or the address bound, with loopback for an
// unspecified host (enough for proxies on one host).
func (d *Daemon) peerAddr() string {
	if d.cfg.Proxy.PeerAddr != "" {
		return d.cfg.Proxy.PeerAddr
	}
	return config.DialableAddr(d.ln.Addr().String())
}
