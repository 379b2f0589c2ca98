package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/privsep"
)

// engineStopTimeout bounds how long the launcher waits for the engine to
// stop after SIGTERM before it kills it; the helper undoes its changes
// either way.
const engineStopTimeout = 15 * time.Second

// runLauncher is `sudo vnet up`: as root, it serves as the engine's helper
// and starts the engine (this binary, `vnet up` again) as the user who ran
// sudo, then undoes everything when the engine stops, or stops it on
// SIGINT/SIGTERM. It reads nothing of the user's: the engine does.
func runLauncher(ctx context.Context, f upFlags, args []string, log *slog.Logger) error {
	uid, gid, err := engineUser()
	if err != nil {
		return err
	}
	resolvConf := platform.DefaultResolvConfPath
	if f.dnsMode == "auto" {
		f.dnsMode = platform.DetectDNSMode(resolvConf)
	}
	// Put back what a VNet that died left, before the engine reads the
	// upstream resolvers.
	if err := platform.RestoreStale(resolvConf); err != nil {
		return err
	}
	helperDir := privsep.DefaultStateDir
	if err := rootDir(helperDir); err != nil {
		return err
	}
	if _, err := privsep.Recover(helperDir, log); err != nil {
		if errors.Is(err, privsep.ErrHelperRunning) {
			return fmt.Errorf("VNet is already running: %w", err)
		}
		return err
	}

	sock := filepath.Join(helperDir, "engine-"+strconv.Itoa(os.Getpid())+".sock")
	ln, err := privsep.Listen(sock, uid, gid)
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
		return err
	}
	ctlPath := filepath.Join(f.stateDir, control.SocketName)
	ctlLn, err := control.Socket(ctlPath, uid, gid)
	if err != nil {
		return err
	}
	defer os.Remove(ctlPath)
	ctlFile, err := ctlLn.(*net.UnixListener).File()
	ctlLn.(*net.UnixListener).SetUnlinkOnClose(false)
	ctlLn.Close()
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}

	cmd, err := engineCommand(uid, gid, sock, args)
	if err != nil {
		ctlFile.Close()
		return err
	}
	cmd.ExtraFiles = []*os.File{ctlFile} // fd 3
	err = cmd.Start()
	ctlFile.Close()
	if err != nil {
		return fmt.Errorf("start VNet's engine: %w", err)
	}
	log.Debug("started VNet's engine", "pid", cmd.Process.Pid, "uid", uid)
	helper, err := privsep.NewHelper(privsep.HelperConfig{
		Allow:          privsep.AllowUID(uint32(uid), cmd.Process.Pid),
		DNSMode:        f.dnsMode,
		ResolvConfPath: resolvConf,
		StateDir:       helperDir,
		Logger:         log,
		Opened:         trimMemory, // uptrim_linux.go: the start-up's memory back before the first load
	})
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}

	engineDone := make(chan error, 1)
	go func() { engineDone <- cmd.Wait() }()
	trimCtx, stopTrim := context.WithCancel(ctx)
	defer stopTrim()
	go trimWhenIdle(trimCtx) // uptrim_linux.go: the helper is mostly idle
	serveCtx, stopServing := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			served <- nil // the engine never came
			return
		}
		ln.Close() // one engine per launcher
		served <- helper.Serve(serveCtx, conn)
	}()

	var engineErr error
	select {
	case engineErr = <-engineDone:
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-engineDone:
		case <-time.After(engineStopTimeout):
			log.Warn("VNet's engine did not stop after SIGTERM: killing it", "pid", cmd.Process.Pid)
			cmd.Process.Kill()
			<-engineDone
		}
	}
	// The engine is gone: end the session (it undoes everything).
	stopServing()
	ln.Close()
	if err := <-served; err != nil {
		log.Warn("helper session", "err", err)
	}
	if engineErr != nil && ctx.Err() == nil {
		var exit *exec.ExitError
		if errors.As(engineErr, &exit) && exit.ExitCode() > 0 {
			// The engine said why on stderr.
			ln.Close()
			os.Remove(ctlPath)
			os.Exit(exit.ExitCode())
		}
		return fmt.Errorf("VNet's engine: %w", engineErr)
	}
	return nil
}

// engineUser is the user the engine runs as: the one who ran sudo
// (SUDO_UID, SUDO_GID), or SUDO_USER (a systemd unit names its user so),
// or root when root itself asked (there is no one to drop to; the engine
// is still apart from the helper).
func engineUser() (uid, gid int, err error) {
	if uid, gid := sudoID("SUDO_UID"), sudoID("SUDO_GID"); uid >= 0 && gid >= 0 {
		return uid, gid, nil
	}
	if name := os.Getenv("SUDO_USER"); name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, 0, fmt.Errorf("SUDO_USER=%s: %w", name, err)
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err := errors.Join(err1, err2); err != nil {
			return 0, 0, fmt.Errorf("SUDO_USER=%s: %w", name, err)
		}
		return uid, gid, nil
	}
	return 0, 0, nil
}

// engineCommand is this binary as `vnet up args...`, run as uid/gid with
// the user's groups and home, told where its helper listens.
func engineCommand(uid, gid int, sock string, args []string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find vnet's own binary: %w", err)
	}
	cmd := exec.Command(exe, append([]string{"up"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	env := os.Environ()
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		env = append(env, "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := strconv.ParseUint(id, 10, 32); err == nil {
					cred.Groups = append(cred.Groups, uint32(g))
				}
			}
		}
	}
	if cred.Groups == nil {
		cred.Groups = []uint32{uint32(gid)}
	}
	cmd.Env = append(enginePprofEnv(env), envHelperSocket+"="+sock, envControlFD+"=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd, nil
}

// rootDir makes dir (root's, 0755) or checks that it is root's: a real
// folder, not a link, that no one else may write to.
func rootDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: dir, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 || st.Mode&0o022 != 0 {
		return fmt.Errorf("%s must be a folder of root's that only root may write to", dir)
	}
	return nil
}
