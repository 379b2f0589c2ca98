package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDataDir: data_dir read from its own line (the apps are not parsed),
// quoted or not; the default when the file has none; and the whole file
// loaded when it sets data_dir another way.
func TestDataDir(t *testing.T) {
	const rest = "version: v1\ncluster_name: c\nproxy_service:\n  public_addr: proxy.test:3080\n"
	for _, tc := range []struct{ name, file, want string }{
		{"plain", rest + "data_dir: /srv/vnet\napp_service:\n  enabled: true\n  apps:\n    - {name: a, uri: 'tcp://h:1'}\n", "/srv/vnet"},
		{"quoted, with a comment", "data_dir: \"/srv/my vnet\" # here\n" + rest, "/srv/my vnet"},
		{"apps not parsed", "data_dir: /srv/vnet\napps: [this is not valid here\n", "/srv/vnet"},
		{"none", rest, defaultDataDir},
		{"flow style", "{version: v1, cluster_name: c, data_dir: /srv/flow, proxy_service: {public_addr: 'proxy.test:3080'}}\n", "/srv/flow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cluster.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := DataDir(path)
			if err != nil || got != tc.want {
				t.Fatalf("DataDir = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
