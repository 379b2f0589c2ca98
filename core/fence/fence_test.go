package fence

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// clientSide are the packages that run on a laptop or inside the macOS
// Network Extension, where server code is dead weight (and, in the
// extension, memory the system counts against a hard limit).
var clientSide = []string{
	"github.com/vnetproject/vnet/bridge",
	"github.com/vnetproject/vnet/core/vnet",
}

// forbidden reports why a dependency has no place on the client side, or
// "" if it may stay.
func forbidden(pkg string) string {
	switch {
	case pkg == "github.com/vnetproject/vnet/core/cluster" ||
		strings.HasPrefix(pkg, "github.com/vnetproject/vnet/core/cluster/"):
		return "cluster server package"
	case pkg == "go.etcd.io/bbolt" || strings.HasPrefix(pkg, "go.etcd.io/bbolt/"):
		return "the server's store (bbolt)"
	case strings.HasPrefix(pkg, "go.etcd.io/etcd/"):
		return "the server's store (etcd client)"
	case pkg == "golang.org/x/crypto/bcrypt":
		return "the server's password hashes (bcrypt)"
	case strings.HasPrefix(pkg, "github.com/prometheus/"):
		// The engine reports through vnet.Metrics; `vnet up` wires the
		// exporter (core/vnet/vnetmetrics), the bridge has none.
		return "the metrics exporter (Prometheus): report through vnet.Metrics"
	}
	return ""
}

func TestClientLinksNoServerCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	// The bridge ships for darwin; the engine also runs in the Linux CLI.
	for _, target := range []struct{ goos, goarch string }{
		{"darwin", "arm64"},
		{"darwin", "amd64"},
		{"linux", "amd64"},
	} {
		t.Run(target.goos+"_"+target.goarch, func(t *testing.T) {
			for _, pkg := range clientSide {
				cmd := exec.Command(goTool, append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkg)...)
				// cgo on: the bridge is all cgo; go list needs no C compiler.
				cmd.Env = append(os.Environ(), "GOOS="+target.goos, "GOARCH="+target.goarch, "CGO_ENABLED=1")
				out, err := cmd.Output()
				if err != nil {
					stderr := ""
					if ee, ok := err.(*exec.ExitError); ok {
						stderr = string(ee.Stderr)
					}
					t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
				}
				deps := strings.Fields(string(out))
				if len(deps) < 10 {
					t.Fatalf("go list -deps %s listed %d packages; expected the whole graph", pkg, len(deps))
				}
				for _, dep := range deps {
					if why := forbidden(dep); why != "" {
						t.Errorf("%s (%s/%s) depends on %s: %s; move what both sides share to a neutral package",
							pkg, target.goos, target.goarch, dep, why)
					}
				}
			}
		})
	}
}

// TestForbidden keeps the fence itself honest: a rule that matches nothing
// would pass forever.
func TestForbidden(t *testing.T) {
	for pkg, want := range map[string]bool{
		"github.com/vnetproject/vnet/core/cluster/auth":  true,
		"github.com/vnetproject/vnet/core/cluster/store": true,
		"go.etcd.io/bbolt":                                  true,
		"go.etcd.io/etcd/client/v3":                         true,
		"golang.org/x/crypto/bcrypt":                        true,
		"github.com/prometheus/client_golang/prometheus":    true,
		"github.com/vnetproject/vnet/core/vnet/vnetmetrics": false,
		"github.com/vnetproject/vnet/core/catalog":          false,
		"github.com/vnetproject/vnet/core/clusterish":       false,
		"golang.org/x/crypto/chacha20":                      false,
	} {
		if got := forbidden(pkg) != ""; got != want {
			t.Errorf("forbidden(%q) = %v, want %v", pkg, got, want)
		}
	}
}
