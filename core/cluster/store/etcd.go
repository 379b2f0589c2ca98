package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultEtcdPrefix is where a cluster's keys live in etcd unless the
// configuration says otherwise; several clusters may share one etcd with
// different prefixes.
const DefaultEtcdPrefix = "/vnet/"

// etcdDialTimeout bounds the first connection: an unreachable etcd is an
// error at start, not a hang.
const etcdDialTimeout = 5 * time.Second

// etcdRequestTimeout bounds each call to etcd (but listings, which get
// etcdListTimeout): with its quorum lost etcd does not answer writes at
// all, and an administrator should hear "store unavailable" within two
// seconds, not after the client's own deadline. Every call also requires
// a leader, so a member that knows it has none says so at once.
const (
	etcdRequestTimeout = 1500 * time.Millisecond
	etcdListTimeout    = 10 * time.Second // a listing of 100,000 apps takes seconds
)

// EtcdConfig says how to reach etcd. Its errors name the fields by their
// cluster.yaml keys (storage.tls_ca_file, ...), where users set them.
type EtcdConfig struct {
	Peers  []string // client URLs, e.g. http://127.0.0.1:2379; at least one
	Prefix string   // prepended to every key; default DefaultEtcdPrefix
	// DialTimeout bounds the first connection; default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds each later call but listings; default 1.5s.
	// One that runs out is ErrUnavailable.
	RequestTimeout time.Duration

	// TLS, for https:// peers only. CAFile is the CA that signed the
	// servers' certificates (PEM; default: the system's roots); CertFile
	// and KeyFile a client certificate and its key (PEM, both or
	// neither), for an etcd started with --client-cert-auth. Each peer's
	// certificate must name the peer's host as written in Peers: there is
	// no server name override (gRPC checks the dialed host). The files
	// are read at Open: new files need a restart.
	CAFile, CertFile, KeyFile string

	// Username and PasswordFile (both or neither) log in to an etcd with
	// authentication enabled; the file holds the password (one trailing
	// newline is dropped). Over http:// only to loopback peers: the
	// password and etcd's tokens would cross the network in clear.
	Username, PasswordFile string

	tls      *tls.Config // set by CheckAndSetDefaults for https:// peers
	password string      // set by CheckAndSetDefaults from PasswordFile
}

// CheckAndSetDefaults validates c, reads its files and fills in defaults.
// Each mistake is one line.
func (c *EtcdConfig) CheckAndSetDefaults() error {
	if len(c.Peers) == 0 {
		return errors.New("etcd: at least one peer is required (e.g. http://127.0.0.1:2379)")
	}
	var plain, secure []string
	for _, p := range c.Peers {
		switch {
		case strings.HasPrefix(p, "http://"):
			plain = append(plain, p)
		case strings.HasPrefix(p, "https://"):
			secure = append(secure, p)
		default:
			return fmt.Errorf("etcd peer %q: use a client URL such as http://127.0.0.1:2379", p)
		}
	}
	if len(plain) > 0 && len(secure) > 0 {
		return fmt.Errorf("etcd peers: %s is http:// and %s https://: use https:// for every peer", plain[0], secure[0])
	}
	if c.Prefix == "" {
		c.Prefix = DefaultEtcdPrefix
	}
	if !strings.HasPrefix(c.Prefix, "/") {
		return fmt.Errorf("etcd prefix %q: must start with '/'", c.Prefix)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = etcdDialTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = etcdRequestTimeout
	}
	if err := c.loadTLS(len(secure) > 0); err != nil {
		return err
	}
	return c.loadPassword(plain)
}

// loadTLS checks the TLS options against the peers' scheme and builds the
// client's TLS configuration from the files.
func (c *EtcdConfig) loadTLS(https bool) error {
	if !https {
		for _, o := range []struct{ key, value string }{
			{"tls_ca_file", c.CAFile}, {"tls_cert_file", c.CertFile}, {"tls_key_file", c.KeyFile},
		} {
			if o.value != "" {
				return fmt.Errorf("etcd %s: TLS options need https:// peers (peers: %s)", o.key, strings.Join(c.Peers, ", "))
			}
		}
		c.tls = nil
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return fmt.Errorf("etcd tls_ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("etcd tls_ca_file %s: no PEM certificate in it", c.CAFile)
		}
	}
	switch {
	case c.CertFile != "" && c.KeyFile == "":
		return errors.New("etcd tls_cert_file: needs tls_key_file (the certificate's private key)")
	case c.CertFile == "" && c.KeyFile != "":
		return errors.New("etcd tls_key_file: needs tls_cert_file (the key's certificate)")
	case c.CertFile != "":
		for _, f := range []struct{ key, path string }{{"tls_cert_file", c.CertFile}, {"tls_key_file", c.KeyFile}} {
			// A missing file is named by its key; LoadX509KeyPair's own
			// errors do not say which file.
			if _, err := os.Stat(f.path); err != nil {
				return fmt.Errorf("etcd %s: %w", f.key, err)
			}
		}
		pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return fmt.Errorf("etcd tls_cert_file %s and tls_key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	c.tls = cfg
	return nil
}

// loadPassword checks username and password_file and reads the password.
// plain lists the http:// peers.
func (c *EtcdConfig) loadPassword(plain []string) error {
	switch {
	case c.Username == "" && c.PasswordFile == "":
		c.password = ""
		return nil
	case c.Username == "":
		return errors.New("etcd password_file: needs username")
	case c.PasswordFile == "":
		return errors.New("etcd username: needs password_file (a client certificate alone names its etcd user by its common name)")
	}
	for _, p := range plain {
		if !loopbackURL(p) {
			return fmt.Errorf("etcd password_file: the password would cross the network in clear to %s: use https:// peers", p)
		}
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return fmt.Errorf("etcd password_file: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return fmt.Errorf("etcd password_file %s: empty", c.PasswordFile)
	}
	c.password = pw
	return nil
}

// loopbackURL reports whether the client URL u names a loopback host.
func loopbackURL(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil {
		return false
	}
	host := parsed.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Etcd is a Store in etcd, for clusters with several proxies. Keys are
// stored under a prefix; Create and CompareAndSwap are etcd transactions,
// so they are atomic across every process sharing the etcd.
type Etcd struct {
	cli     *clientv3.Client // never nil
	prefix  string
	name    string        // "etcd at <peers>", for ErrUnavailable's text
	timeout time.Duration // of each call but listings
	closed  atomic.Bool
}

var _ Store = (*Etcd)(nil)

// OpenEtcd connects to etcd. It fails if no peer answers within the dial
// timeout.
func OpenEtcd(ctx context.Context, cfg EtcdConfig) (*Etcd, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Peers,
		DialTimeout: cfg.DialTimeout,
		Context:     context.WithoutCancel(ctx),
		Logger:      zap.NewNop(),
		TLS:         cfg.tls,
		Username:    cfg.Username,
		Password:    cfg.password,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(cfg.Peers, ","), err)
	}
	// clientv3.New does not wait for the server: ask it something so that
	// a wrong address fails here, with a message that names it.
	sctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := cli.Get(sctx, cfg.Prefix, clientv3.WithCountOnly()); err != nil {
		cli.Close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if peer, why := diagnose(ctx, cfg); why != nil {
				return nil, fmt.Errorf("connect to etcd %s: %w", peer, why)
			}
		}
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(cfg.Peers, ","), err)
	}
	return &Etcd{cli: cli, prefix: cfg.Prefix, name: "etcd at " + strings.Join(cfg.Peers, ","), timeout: cfg.RequestTimeout}, nil
}

// diagnose finds why no peer answered the client, which only says its
// deadline passed: it asks each peer for /health over HTTP(S) with the
// same TLS configuration, and returns the first peer whose connection
// fails and why (connection refused, a certificate the client does not
// trust, or one the server refused). It returns a nil error when every
// connection succeeds.
func diagnose(ctx context.Context, cfg EtcdConfig) (peer string, why error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	tr := &http.Transport{TLSClientConfig: cfg.tls, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, p := range cfg.Peers {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p, "/")+"/health", nil)
		if err != nil {
			return p, err
		}
		res, err := client.Do(req)
		if err != nil {
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err // not the repeated URL
			}
			return p, withHint(err, cfg, strings.HasPrefix(p, "https://"))
		}
		res.Body.Close()
	}
	return "", nil
}

// withHint adds to a connection error what to change in the storage
// section, when the cause is known.
func withHint(err error, cfg EtcdConfig, https bool) error {
	var unknownCA x509.UnknownAuthorityError
	var hint string
	switch {
	case !https && errors.Is(err, io.EOF):
		hint = "the server closed the connection: if it serves TLS, use https:// peers and the tls_* options"
	case errors.As(err, &unknownCA) && cfg.CAFile == "":
		hint = "set tls_ca_file to the CA that signed the server's certificate"
	case errors.As(err, &unknownCA):
		hint = "tls_ca_file is not the CA that signed the server's certificate"
	case strings.Contains(err.Error(), "remote error: tls:") && cfg.CertFile == "":
		hint = "the server wants a client certificate: set tls_cert_file and tls_key_file"
	case strings.Contains(err.Error(), "remote error: tls:"):
		hint = "the server refused tls_cert_file: is it signed by the CA of the server's --trusted-ca-file?"
	default:
		return err
	}
	return fmt.Errorf("%w (%s)", err, hint)
}

// check runs before every call: ctx first, then the store's state, then
// the key (List passes skipKey).
func (e *Etcd) check(ctx context.Context, key string, skipKey bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.closed.Load() {
		return ErrClosed
	}
	if skipKey {
		return nil
	}
	return checkKey(key)
}

// call is the context of one call to etcd: ctx, bounded by the call's
// timeout (etcdListTimeout for listings), and requiring a leader.
func (e *Etcd) call(ctx context.Context, list bool) (context.Context, context.CancelFunc) {
	timeout := e.timeout
	if list {
		timeout = max(timeout, etcdListTimeout)
	}
	return context.WithTimeout(clientv3.WithRequireLeader(ctx), timeout)
}

// wrap names the operation and key, and turns the errors of a closed client
// or a canceled context into the ones the Store interface promises, and
// those of an etcd that cannot answer now (no leader, no quorum, no
// answer in time) into an *UnavailableError. ctx is the caller's.
func (e *Etcd) wrap(ctx context.Context, op, key string, err error) error {
	switch {
	case e.closed.Load():
		return ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	timeout := e.timeout
	if op == "list" {
		timeout = max(timeout, etcdListTimeout)
	}
	if why, ok := etcdUnavailable(err, timeout); ok {
		return &UnavailableError{Backend: e.name, Op: op, Key: key, Reason: why}
	}
	return fmt.Errorf("%s %q: etcd: %w", op, key, err)
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, key string) ([]byte, error) {
	if err := e.check(ctx, key, false); err != nil {
		return nil, err
	}
	cctx, cancel := e.call(ctx, false)
	defer cancel()
	res, err := e.cli.Get(cctx, e.prefix+key)
	if err != nil {
		return nil, e.wrap(ctx, "get", key, err)
	}
	if len(res.Kvs) == 0 {
		return nil, fmt.Errorf("get %q: %w", key, ErrNotFound)
	}
	return clone(res.Kvs[0].Value), nil
}

// Put implements Store.
func (e *Etcd) Put(ctx context.Context, key string, value []byte) error {
	if err := e.check(ctx, key, false); err != nil {
		return err
	}
	cctx, cancel := e.call(ctx, false)
	defer cancel()
	if _, err := e.cli.Put(cctx, e.prefix+key, string(value)); err != nil {
		return e.wrap(ctx, "put", key, err)
	}
	return nil
}

// etcdBatch is the most operations PutAll puts in one transaction: etcd
// refuses more than --max-txn-ops (128 by default).
const etcdBatch = 128

// PutAll implements Store: a transaction of etcdBatch puts at a time.
func (e *Etcd) PutAll(ctx context.Context, items []Item) error {
	if err := e.check(ctx, "", true); err != nil {
		return err
	}
	for _, it := range items {
		if err := checkKey(it.Key); err != nil {
			return err
		}
	}
	for len(items) > 0 {
		n := min(len(items), etcdBatch)
		ops := make([]clientv3.Op, n)
		for i, it := range items[:n] {
			ops[i] = clientv3.OpPut(e.prefix+it.Key, string(it.Value))
		}
		cctx, cancel := e.call(ctx, false)
		_, err := e.cli.Txn(cctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return e.wrap(ctx, "put", items[0].Key, err)
		}
		items = items[n:]
	}
	return nil
}

// Create implements Store: a transaction on the key's create revision
// being 0 (absent).
func (e *Etcd) Create(ctx context.Context, key string, value []byte) error {
	if err := e.check(ctx, key, false); err != nil {
		return err
	}
	k := e.prefix + key
	cctx, cancel := e.call(ctx, false)
	defer cancel()
	res, err := e.cli.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return e.wrap(ctx, "create", key, err)
	}
	if !res.Succeeded {
		return fmt.Errorf("create %q: %w", key, ErrExists)
	}
	return nil
}

// Delete implements Store.
func (e *Etcd) Delete(ctx context.Context, key string) error {
	if err := e.check(ctx, key, false); err != nil {
		return err
	}
	cctx, cancel := e.call(ctx, false)
	defer cancel()
	res, err := e.cli.Delete(cctx, e.prefix+key)
	if err != nil {
		return e.wrap(ctx, "delete", key, err)
	}
	if res.Deleted == 0 {
		return fmt.Errorf("delete %q: %w", key, ErrNotFound)
	}
	return nil
}

// List implements Store. etcd ranges are in byte order of the key, and
// the common prefix keeps that order.
func (e *Etcd) List(ctx context.Context, prefix string) ([]Item, error) {
	items, _, err := e.Snapshot(ctx, prefix)
	return items, err
}

// Snapshot implements Store: the revision is etcd's, from the response
// header, shared by every client of the etcd.
func (e *Etcd) Snapshot(ctx context.Context, prefix string) ([]Item, int64, error) {
	if err := e.check(ctx, "", true); err != nil {
		return nil, 0, err
	}
	cctx, cancel := e.call(ctx, true)
	defer cancel()
	res, err := e.cli.Get(cctx, e.prefix+prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, e.wrap(ctx, "list", prefix, err)
	}
	items := make([]Item, 0, len(res.Kvs))
	for _, kv := range res.Kvs {
		items = append(items, Item{Key: strings.TrimPrefix(string(kv.Key), e.prefix), Value: clone(kv.Value)})
	}
	if len(items) == 0 {
		items = nil
	}
	return items, res.Header.GetRevision(), nil
}

// CompareAndSwap implements Store: a transaction on the key existing with
// value old; on failure the same transaction reads the key to tell a
// missing key from a changed one.
func (e *Etcd) CompareAndSwap(ctx context.Context, key string, old, new []byte) error {
	if err := e.check(ctx, key, false); err != nil {
		return err
	}
	k := e.prefix + key
	cctx, cancel := e.call(ctx, false)
	defer cancel()
	res, err := e.cli.Txn(cctx).
		If(
			clientv3.Compare(clientv3.CreateRevision(k), ">", 0),
			clientv3.Compare(clientv3.Value(k), "=", string(old)),
		).
		Then(clientv3.OpPut(k, string(new))).
		Else(clientv3.OpGet(k, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return e.wrap(ctx, "compare and swap", key, err)
	}
	if res.Succeeded {
		return nil
	}
	if len(res.Responses) == 1 && res.Responses[0].GetResponseRange().GetCount() == 0 {
		return fmt.Errorf("compare and swap %q: %w", key, ErrNotFound)
	}
	return fmt.Errorf("compare and swap %q: %w", key, ErrConflict)
}

// Close implements Store.
func (e *Etcd) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	if err := e.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close etcd client: %w", err)
	}
	return nil
}

// Describe names the store for status: "etcd at <peers>".
func (e *Etcd) Describe() string { return e.name }
