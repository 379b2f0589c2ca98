// Package daemon runs one cluster process: the Auth Service (CA and users
// in an embedded database), the Proxy Service and the App Service's static
// apps, as `vnet cluster start` does.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/proxy"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/cluster/trust"
	"github.com/vnetproject/vnet/core/metrics"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/version"
)

const (
	dbFile   = "cluster.db"
	adminDir = "admin"
	// AdminUser is the local administrator whose identity the daemon
	// writes into its data directory for `vnet ctl`.
	AdminUser = "admin"
	// AdminCertTTL is the lifetime of the admin identity, issued anew at
	// every start: a copy that leaks is useful for half a day at most
	// (docs/security.md says how to end it at once).
	AdminCertTTL = 12 * time.Hour
	hostTTL      = 365 * 24 * time.Hour
)

// AdminProfileDir is where the admin identity of the cluster whose data
// directory is dataDir lives.
func AdminProfileDir(dataDir string) string { return filepath.Join(dataDir, adminDir) }

// Daemon is a running cluster process.
type Daemon struct {
	audit *audit.Log // the durable audit log; nil until start
	cfg   *config.File
	log   *slog.Logger
	store store.Store
	proxy *proxy.Server
	ln    net.Listener
	auth  *auth.Service
	// trustStop ends the leaf side's tunnels to root clusters (trust);
	// trustDone is closed when they have ended. nil until start.
	trustStop context.CancelFunc
	trustDone chan struct{}
	// adminStop ends the renewal of the admin identity; adminDone is
	// closed when it has ended. nil until start.
	adminStop context.CancelFunc
	adminDone chan struct{}
	// metrics is proxy_service.metrics_addr's endpoint (metrics.go); nil
	// without one.
	metrics *metrics.Server
}

// Start opens the data directory, loads or creates the CA, registers the
// static apps, writes the admin identity and starts listening. It returns
// once the proxy accepts connections.
func Start(ctx context.Context, cfg *config.File, log *slog.Logger) (*Daemon, error) {
	if log == nil {
		log = slog.Default()
	}
	// Listen before anything is created: a listen address that cannot be
	// used leaves no database or CA behind. The peer address and the
	// admin identity name the port actually bound.
	ln, err := net.Listen("tcp", cfg.Proxy.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("proxy_service.listen_addr: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		ln.Close()
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, store: st, ln: ln}
	if err := d.start(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) start(ctx context.Context) error {
	cfg := d.cfg
	ca, err := auth.LoadOrCreateCA(ctx, d.store, cfg.ClusterName)
	if err != nil {
		return err
	}
	if d.auth, err = auth.NewService(d.store, ca, cfg.Auth.CertTTL); err != nil {
		return err
	}
	d.auth.SetMachineCertTTL(cfg.Auth.MachineCertTTL)
	res := state.New(d.store)
	if err := proxy.SeedPresetRoles(ctx, d.store, res); err != nil {
		return err
	}
	// The count of audit events dropped and not yet recorded lives next to
	// the store, not in it: it matters most when the store refuses writes.
	if d.audit, err = audit.New(audit.Config{Store: d.store, Retention: cfg.Auth.AuditRetention, Logger: d.log, DroppedFile: filepath.Join(cfg.DataDir, "audit-dropped")}); err != nil {
		return err
	}
	apps, err := cfg.StaticApps()
	if err != nil {
		return err
	}
	if apps, err = d.storeStaticApps(ctx, res, apps); err != nil {
		return err
	}
	cert, err := d.hostCert(ca)
	if err != nil {
		return err
	}
	pm, err := d.startMetrics()
	if err != nil {
		return err
	}
	d.proxy, err = proxy.New(proxy.Config{
		ClusterName:    cfg.ClusterName,
		PublicAddr:     cfg.Proxy.PublicAddr,
		Version:        version.Number,
		Auth:           d.auth,
		State:          res,
		Cert:           cert,
		Logger:         d.log,
		Audit:          d.audit,
		Store:          d.store,
		PeerAddr:       d.peerAddr(),
		AgentHeartbeat: cfg.Proxy.AgentHeartbeat,

		MaxStreamsPerUser:       cfg.Proxy.MaxStreamsPerUser,
		MaxStreamsPerConnection: cfg.Proxy.MaxStreamsPerConnection,
		MaxMessageBytes:         cfg.Proxy.MaxMessageBytes,
		Metrics:                 pm,
	})
	if err != nil {
		return err
	}
	if err := d.writeAdminIdentity(ctx, ca); err != nil {
		return err
	}
	d.renewAdminIdentity(ca)
	if err := d.startTrust(res); err != nil {
		return err
	}
	d.log.Info("cluster started", "cluster", cfg.ClusterName, "listen", d.ln.Addr(), "public_addr", cfg.Proxy.PublicAddr, "ca_pin", ca.Pin(), "apps", len(apps))
	return nil
}

// Serve runs the proxy until ctx is done.
func (d *Daemon) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { d.proxy.Close() })
	defer stop()
	return d.proxy.Serve(d.ln)
}

// Addr is where the proxy listens.
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// Proxy is the cluster's Proxy Service, for tests that look at what it
// serves; nil until start.
func (d *Daemon) Proxy() *proxy.Server { return d.proxy }

// Store is where the cluster keeps its state, for tests that look at
// what it stored (a leaf's identity at its root).
func (d *Daemon) Store() store.Store { return d.store }

// Auth is the cluster's Auth Service.
func (d *Daemon) Auth() *auth.Service { return d.auth }

// Close stops everything. Idempotent.
func (d *Daemon) Close() error {
	var errs []error
	if d.trustStop != nil {
		// First: the tunnels to roots say goodbye while the proxy still
		// serves.
		d.trustStop()
		<-d.trustDone
		d.trustStop = nil
	}
	if d.adminStop != nil {
		d.adminStop()
		<-d.adminDone
		d.adminStop = nil
	}
	if d.proxy != nil {
		errs = append(errs, d.proxy.Close())
	}
	if d.audit != nil {
		// After the proxy: its last session ends are queued by now.
		errs = append(errs, d.audit.Close())
	}
	if d.ln != nil {
		d.ln.Close()
	}
	if d.metrics != nil {
		d.metrics.Close()
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
		d.store = nil
	}
	return errors.Join(errs...)
}

// startTrust follows this cluster's trusted_cluster resources: the leaf
// side of leaf clusters (package trust).
func (d *Daemon) startTrust(res *state.State) error {
	svc, err := trust.New(trust.Config{
		ClusterName: d.cfg.ClusterName,
		PublicAddr:  d.cfg.Proxy.PublicAddr,
		State:       res,
		Store:       d.store,
		Local:       d.proxy,
		Logger:      d.log,
	})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	d.trustStop, d.trustDone = stop, make(chan struct{})
	go func() {
		defer close(d.trustDone)
		svc.Run(ctx)
	}()
	return nil
}

// hostCert issues the proxy's server certificate for every name a client
// may dial it by.
func (d *Daemon) hostCert(ca *auth.CA) (tls.Certificate, error) {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, addr := range []string{d.cfg.Proxy.PublicAddr, d.cfg.Proxy.ListenAddr, d.cfg.Proxy.PeerAddr} {
		if h, _, err := net.SplitHostPort(addr); err == nil && h != "" {
			if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
				hosts = append(hosts, h)
			}
		}
	}
	certPEM, keyPEM, err := ca.IssueHost(hosts, hostTTL)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	// Send the CA along: a first login learns it (and its pin) from the
	// handshake.
	cert.Certificate = append(cert.Certificate, ca.Cert.Raw)
	return cert, nil
}

// writeAdminIdentity issues a fresh admin certificate at every start and
// stores it as a profile in the data directory, readable by root only.
// The certificate is bound to the admin user's record like any user's.
func (d *Daemon) writeAdminIdentity(ctx context.Context, ca *auth.CA) error {
	admin, err := d.auth.EnsureUser(ctx, AdminUser, []string{auth.RoleAdmin})
	if err != nil {
		return err
	}
	key, err := mtls.NewKey()
	if err != nil {
		return err
	}
	certPEM, err := d.auth.IssueFor(key.Public, admin, AdminCertTTL)
	if err != nil {
		return err
	}
	return profile.SaveDir(AdminProfileDir(d.cfg.DataDir), &profile.Profile{
		ProxyAddr:   config.DialableAddr(d.ln.Addr().String()),
		ClusterName: d.cfg.ClusterName,
		User:        AdminUser,
		Roles:       []string{auth.RoleAdmin},
		CertPEM:     certPEM,
		KeyPEM:      key.PEM,
		CAPEM:       ca.CertPEM,
	})
}

// RotateAdminIdentity ends every admin certificate issued so far (a
// leaked copy of DATA_DIR/admin) and writes a new admin identity: the
// admin user's record gets a new generation. In a cluster of several
// proxies, the others' admin identities end too; each writes a new one at
// its next start.
func (d *Daemon) RotateAdminIdentity(ctx context.Context) error {
	if _, err := d.auth.RotateUser(ctx, AdminUser); err != nil {
		return fmt.Errorf("rotate the admin identity: %w", err)
	}
	return d.writeAdminIdentity(ctx, d.auth.CA())
}

// renewAdminIdentity writes a new admin identity at two thirds of the
// last one's life, so that 'vnet ctl' keeps working on a daemon that runs
// for longer than AdminCertTTL.
func (d *Daemon) renewAdminIdentity(ca *auth.CA) {
	ctx, stop := context.WithCancel(context.Background())
	d.adminStop, d.adminDone = stop, make(chan struct{})
	go func() {
		defer close(d.adminDone)
		t := time.NewTicker(AdminCertTTL * 2 / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := d.writeAdminIdentity(wctx, ca); err != nil {
				d.log.Error("renew the admin identity", "dir", AdminProfileDir(d.cfg.DataDir), "err", err)
			}
			cancel()
		}
	}()
}
