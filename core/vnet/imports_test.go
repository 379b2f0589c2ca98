package vnet_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestStartersUseTheEngine: the two programs that start VNet (`vnet up`
// and the macOS bridge) reach the catalog, the DNS server and forwarder,
// and the netstack only through this package (Open, Run), so that there is
// one way to start it. Their tests may build fakes from those packages.
func TestStartersUseTheEngine(t *testing.T) {
	forbidden := []string{
		"github.com/vnetproject/vnet/core/catalog",
		"github.com/vnetproject/vnet/core/dns",
		"github.com/vnetproject/vnet/core/stack",
	}
	for _, dir := range []string{"../../bridge", "../cmd/vnet"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if slices.Contains(forbidden, path) {
					t.Errorf("%s imports %s: reach it through core/vnet", f, path)
				}
			}
		}
	}
}
