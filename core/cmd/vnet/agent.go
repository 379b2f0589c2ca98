package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/vnetproject/vnet/core/cluster/agent"
)

// runAgent runs the App Service as an agent: it joins the cluster on its
// first start, then keeps a reverse tunnel to the proxy. SIGHUP re-reads
// the config and updates the apps.
func runAgent(ctx context.Context, args []string) error {
	_, args, err := subcommand("agent", args, []string{"start"})
	if err != nil {
		return err
	}
	fs := newFlags("agent start")
	path := fs.String("config", envOr("VNET_AGENT_CONFIG", "/etc/vnet/agent.yaml"), "agent config file")
	lf := addLogFlags(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if err := lf.check("agent start"); err != nil {
		return err
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		return err
	}
	log := lf.logger(os.Stderr, false)
	id, err := agent.LoadOrJoin(ctx, cfg)
	if err != nil {
		return err
	}
	apps, err := cfg.AppResources()
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{Identity: id, IdentityDir: cfg.IdentityDir(), Apps: apps, Logger: log})
	if err != nil {
		return err
	}
	log.Info("agent starting", "agent", id.User, "cluster", id.ClusterName, "proxy", id.ProxyAddr, "apps", len(apps))
	if why := cfg.Apps.NoAppsReason(); why != "" {
		log.Warn("this agent serves no app: "+why+" (see docs/config.md)", "config", *path)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(ctx, hup, *path, cfg, a, log)
	return a.Run(ctx)
}

// reloadOnHUP re-reads the config at every SIGHUP; a broken file is
// reported and the apps stay as they were.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, path string, first *agent.File, a *agent.Agent, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := agent.LoadConfig(path)
		if err != nil {
			log.Error("SIGHUP: config not reloaded, the apps stay as they were", "err", err)
			continue
		}
		apps, err := cfg.AppResources()
		if err != nil {
			log.Error("SIGHUP: config not reloaded, the apps stay as they were", "err", err)
			continue
		}
		if cfg.ProxyAddr != first.ProxyAddr || cfg.DataDir != first.DataDir {
			log.Warn("SIGHUP: proxy_addr and data_dir changes take effect at the next start")
		}
		log.Info("SIGHUP: config reloaded", "apps", len(apps))
		if why := cfg.Apps.NoAppsReason(); why != "" {
			log.Warn("this agent serves no app: "+why, "config", path)
		}
		a.SetApps(apps)
	}
}
