package main

import (
	"context"
	"os"

	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/daemon"
)

func runCluster(ctx context.Context, args []string) error {
	_, args, err := subcommand("cluster", args, []string{"start"})
	if err != nil {
		return err
	}
	fs := newFlags("cluster start")
	path := fs.String("config", envOr("VNET_CLUSTER_CONFIG", config.DefaultPath), "cluster config file")
	lf := addLogFlags(fs)
	rotate := fs.Bool("rotate-admin", false, "end every admin identity issued so far (a leaked copy of DATA_DIR/admin) and write a new one")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if err := lf.check("cluster start"); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := lf.logger(os.Stderr, false)
	d, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	if *rotate {
		if err := d.RotateAdminIdentity(ctx); err != nil {
			return err
		}
		log.Info("admin identity rotated: earlier copies of it no longer work", "dir", daemon.AdminProfileDir(cfg.DataDir))
	}
	return d.Serve(ctx)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
