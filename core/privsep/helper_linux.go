package privsep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
)

// The routing table that holds VNet's routes and the priority of the rules
// that send the VNet user's traffic to it: after the local table (0),
// before the main table (32766), apart from tailscale's 52xx.
const (
	RouteTable   = 7353
	RulePriority = 7353
)

// DefaultSocket is where VNet's helper listens when a systemd unit runs it
// (packaging/systemd/vnet-helper.socket), and where `vnet up` run as the
// user looks for it.
const DefaultSocket = "/run/vnet/helper.sock"

// ErrPeerRefused means the process at the other end of the socket is not
// one the helper serves.
var ErrPeerRefused = errors.New("refused by VNet's helper")

// HelperConfig configures a Helper.
type HelperConfig struct {
	// Allow decides from the kernel's record of the peer (SO_PEERCRED)
	// whether the helper serves it; an error says why not. Never nil.
	Allow func(cred *unix.Ucred) error
	// DNSMode is platform.DNSModeResolved, DNSModeResolvConf or
	// DNSModeNone (not "auto": the caller detects it).
	DNSMode string
	// ResolvConfPath defaults to platform.DefaultResolvConfPath.
	ResolvConfPath string
	// StateDir keeps the state files; defaults to DefaultStateDir. It must
	// be root's.
	StateDir string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Opened, if set, is called after the TUN device was handed to an
	// engine (the reply sent): most of what the helper does is done, and
	// `vnet up` gives the memory of its start back then.
	Opened func()
}

// CheckAndSetDefaults validates c and fills in the defaults.
func (c *HelperConfig) CheckAndSetDefaults() error {
	if c.Allow == nil {
		return errors.New("helper config: Allow is nil")
	}
	switch c.DNSMode {
	case platform.DNSModeResolved, platform.DNSModeResolvConf, platform.DNSModeNone:
	default:
		return fmt.Errorf("helper config: DNS mode %q (want %q, %q or %q)", c.DNSMode, platform.DNSModeResolved, platform.DNSModeResolvConf, platform.DNSModeNone)
	}
	if c.ResolvConfPath == "" {
		c.ResolvConfPath = platform.DefaultResolvConfPath
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// AllowUID is an Allow that serves the processes of uid alone (and, when
// pid is not 0, only that process).
func AllowUID(uid uint32, pid int) func(*unix.Ucred) error {
	return func(c *unix.Ucred) error {
		if c.Uid != uid {
			return fmt.Errorf("%w: uid %d is not the VNet user (uid %d)", ErrPeerRefused, c.Uid, uid)
		}
		if pid != 0 && int(c.Pid) != pid {
			return fmt.Errorf("%w: pid %d is not VNet's engine (pid %d)", ErrPeerRefused, c.Pid, pid)
		}
		return nil
	}
}

// Helper is VNet's root helper: it serves one engine at a time (one TUN
// device), from the open of the device to the engine's end.
type Helper struct {
	cfg HelperConfig // checked
	mu  sync.Mutex   // one session at a time
}

// NewHelper checks cfg and returns a Helper. It changes nothing.
func NewHelper(cfg HelperConfig) (*Helper, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	return &Helper{cfg: cfg}, nil
}

// Serve serves the engine at the other end of conn until it closes the
// connection or ctx ends, then undoes everything the session changed and
// closes conn. A peer that Allow refuses is told why and served nothing.
func (h *Helper) Serve(ctx context.Context, conn *net.UnixConn) error {
	defer conn.Close()
	cred, err := peerCred(conn)
	if err != nil {
		return err
	}
	if err := h.cfg.Allow(cred); err != nil {
		send(conn, reply{Err: err.Error()})
		h.cfg.Logger.Warn("refused a connection", "uid", cred.Uid, "pid", cred.Pid, "err", err)
		return err
	}
	if !h.mu.TryLock() {
		err := errors.New("VNet's helper already serves an engine: stop it first ('vnet down')")
		send(conn, reply{Err: err.Error()})
		return err
	}
	defer h.mu.Unlock()
	// The greeting: the engine sends nothing before it, so a refusal
	// above is never lost to unread data.
	if err := send(conn, reply{DNSMode: h.cfg.DNSMode}); err != nil {
		return err
	}
	s := &session{cfg: &h.cfg, uid: cred.Uid, log: h.cfg.Logger.With("uid", cred.Uid, "pid", cred.Pid)}
	defer func() {
		if err := s.close(); err != nil {
			s.log.Error("undo network settings", "err", err)
		}
	}()
	// Closing the connection ends the read loop when ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	for {
		var req request
		fds, err := recv(conn, &req)
		closeFDs(fds) // the engine sends no descriptors
		if err != nil {
			if errors.Is(err, errPeerGone) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
				return nil
			}
			return fmt.Errorf("read from the engine: %w", err)
		}
		rep, tunFDs := s.handle(ctx, req)
		if err := send(conn, rep, tunFDs...); err != nil {
			return fmt.Errorf("reply to the engine: %w", err)
		}
		if req.Op == opOpen && len(tunFDs) > 0 && h.cfg.Opened != nil {
			h.cfg.Opened()
		}
	}
}

// session is what one engine asked for. Not safe for concurrent use: Serve
// handles one request at a time.
type session struct {
	cfg *HelperConfig
	uid uint32
	log *slog.Logger

	statePath string                 // "" until open
	st        state                  // what is changed, as written to statePath
	tun       *platform.TUN          // nil until open
	main      *platform.Configurator // addresses, DNS routes and DNS; nil until open
	table     *platform.Configurator // VNet's routes in RouteTable; nil until open
	// guard keeps other users' sockets from sending out of the device;
	// in force unless unguarded (why not) is set at open.
	guard     platform.DeviceGuard
	unguarded string
}

// handle answers one request; the descriptors go with the reply and stay
// owned by the session.
func (s *session) handle(ctx context.Context, req request) (reply, []int) {
	switch req.Op {
	case opOpen:
		if s.tun != nil {
			return reply{Err: "the TUN device is already open"}, nil
		}
		if err := s.open(req.Tun, req.MTU, req.Queues); err != nil {
			s.log.Error("open the TUN device", "err", err)
			return reply{Err: err.Error()}, nil
		}
		fds, err := s.tun.Descriptors()
		if err != nil {
			return reply{Err: err.Error()}, nil
		}
		return reply{Tun: s.tun.Name(), DNSMode: s.cfg.DNSMode, Unguarded: s.unguarded}, fds
	case opApply:
		if s.tun == nil {
			return reply{Err: "apply before open"}, nil
		}
		if req.Settings == nil {
			return reply{Err: "apply without settings"}, nil
		}
		if err := s.apply(ctx, *req.Settings); err != nil {
			return reply{Err: err.Error()}, nil
		}
		return reply{}, nil
	default:
		return reply{Err: fmt.Sprintf("unknown request %q", req.Op)}, nil
	}
}

// open creates the device, the user's rules and the two configurators,
// recording each in the state file before it is made.
func (s *session) open(name string, mtu, queues int) error {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." {
		return fmt.Errorf("device name %q: want 1 to %d characters", name, unix.IFNAMSIZ-1)
	}
	for _, c := range name {
		// The name goes into an nft script (the guard): nothing else.
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("device name %q: letters, digits, '-', '_' and '.' only", name)
		}
	}
	if mtu != 0 && (mtu < platform.MinMTU || mtu > platform.MaxMTU) {
		return fmt.Errorf("MTU %d out of range", mtu)
	}
	// 0 is an engine older than multi-queue TUNs: one queue.
	if queues == 0 {
		queues = 1
	}
	if queues < 1 || queues > platform.MaxTUNQueues {
		return fmt.Errorf("%d TUN queues: want 1 to %d", queues, platform.MaxTUNQueues)
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("helper state: %w", err)
	}
	if _, err := Recover(s.cfg.StateDir, s.log); err != nil {
		return err
	}
	s.statePath = stateFile(s.cfg.StateDir, name)
	s.st = state{PID: os.Getpid(), Tun: name, DNSMode: s.cfg.DNSMode}
	if s.cfg.DNSMode == platform.DNSModeResolvConf {
		s.st.ResolvConf = s.cfg.ResolvConfPath
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		s.st.Rules = append(s.st.Rules, platform.UIDRule{Family: fam, Priority: RulePriority, Table: RouteTable, UID: s.uid})
	}
	s.guard = platform.DeviceGuard{Table: platform.GuardTable(name), Dev: name, UID: s.uid}
	s.st.NftTable = s.guard.Table
	if err := writeState(s.statePath, s.st); err != nil {
		return err
	}
	// The guard comes before the device: no moment without it.
	if err := platform.ApplyGuard(context.Background(), s.guard); err != nil {
		s.unguarded = unguardedWhy(name, err)
		s.log.Warn(s.unguarded)
	}
	tun, err := platform.OpenTUN(name, mtu, queues)
	if err != nil {
		return err
	}
	s.tun = tun
	if s.main, err = platform.NewConfigurator(platform.Config{TunName: tun.Name(), DNSMode: s.cfg.DNSMode, ResolvConfPath: s.cfg.ResolvConfPath, Logger: s.log}); err != nil {
		return err
	}
	if s.table, err = platform.NewConfigurator(platform.Config{TunName: tun.Name(), DNSMode: platform.DNSModeNone, RouteTable: RouteTable, Logger: s.log}); err != nil {
		return err
	}
	for _, r := range s.st.Rules {
		if err := platform.AddUIDRule(r); err != nil {
			return err
		}
	}
	s.log.Info("opened the TUN device for the engine", "tun", tun.Name(), "table", RouteTable, "guarded", s.unguarded == "")
	return nil
}

// unguardedWhy is the one line said (log, `vnet status`, `vnet diag`) when
// the device has no guard.
func unguardedWhy(dev string, err error) string {
	return fmt.Sprintf("other local users can reach VNet's apps by binding a socket to %s (SO_BINDTODEVICE): %v", dev, err)
}

// apply puts s in force: VNet's routes in its own table (only the user's
// traffic looks there), and in the main table only routes to VNet's DNS
// addresses, which every user's resolver may ask.
func (s *session) apply(ctx context.Context, set netcfg.Settings) error {
	if err := checkSettings(set); err != nil {
		return err
	}
	if s.unguarded == "" {
		// Other users' DNS may reach the DNS addresses before they are
		// routed and written into the resolver configuration.
		g := s.guard
		g.DNS = set.DNSAddrs
		if err := platform.ApplyGuard(ctx, g); err != nil {
			return err
		}
		s.guard = g
	}
	if err := s.setSourceRules(set); err != nil {
		return err
	}
	user := set
	user.DNSAddrs, user.DNSZones = nil, nil
	if err := s.table.Apply(ctx, user); err != nil {
		return err
	}
	all := set
	all.Routes = hostPrefixes(set.DNSAddrs)
	return s.main.Apply(ctx, all)
}

// close undoes the session: resolver settings first (VNet's DNS is out of
// reach once its routes go), then routes, addresses, rules, the device,
// its guard.
func (s *session) close() error {
	if s.statePath == "" {
		return nil
	}
	var errs []error
	if s.main != nil {
		errs = append(errs, s.main.Close())
	}
	if s.table != nil {
		errs = append(errs, s.table.Close())
	}
	for _, r := range s.st.Rules {
		errs = append(errs, platform.DelUIDRule(r))
	}
	if s.tun != nil {
		s.tun.Close()
		// The engine may still hold the device open (the helper stops
		// first): it goes anyway.
		errs = append(errs, platform.DeleteLink(s.tun.Name()))
	}
	// The guard goes with the device, not before it.
	errs = append(errs, platform.DeleteGuard(context.Background(), s.st.NftTable))
	err := errors.Join(errs...)
	if err == nil {
		os.Remove(s.statePath)
		s.log.Info("network settings restored")
	}
	return err
}
