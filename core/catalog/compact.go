package catalog

import (
	"maps"
	"slices"
	"strings"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/portrange"
)

// A laptop following 100,000 apps keeps each once, compactly (issue 13):
// an App holds only what VNet uses (no URI), and apps with the same labels
// share one map of them (a cluster's apps mostly have a few label sets),
// where a map per app cost more than the rest of the app.

// labelSet holds each distinct set of labels once, keyed by its canonical
// form. Its maps are shared: nobody modifies an App's Labels.
type labelSet map[string]map[string]string

// appFrom is a as the catalog keeps it.
func (ls labelSet) appFrom(a *api.App) App {
	app := App{Name: a.GetName(), PublicAddr: Normalize(a.GetPublicAddr()), Labels: ls.intern(a.GetLabels())}
	for _, r := range a.GetTcpPorts() {
		app.TCPPorts = append(app.TCPPorts, portrange.Range{Port: int(r.GetPort()), EndPort: int(r.GetEndPort())})
	}
	return app
}

// intern returns the held copy of labels (a new one the first time).
func (ls labelSet) intern(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	key := b.String()
	if held, ok := ls[key]; ok {
		return held
	}
	held := maps.Clone(labels)
	ls[key] = held
	return held
}
