package version

import "runtime/debug"

// commit is set at build time by the Makefile:
// -ldflags "-X github.com/vnetproject/vnet/core/version.commit=$(git rev-parse --short HEAD)".
var commit string

// Commit is the commit this binary was built from: the one the build
// stamped, else the one Go recorded from the VCS (with "-dirty" for
// uncommitted changes), else "unknown" (go run, tests).
func Commit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
