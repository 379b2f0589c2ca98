package main

import (
	"slices"
	"testing"
)

// TestEnginePprofEnv: the engine serves its profiles at the port after the
// root helper's, which holds VNET_PPROF_ADDR in the same namespace.
func TestEnginePprofEnv(t *testing.T) {
	got := enginePprofEnv([]string{"A=1", pprofEnv + "=127.0.0.1:6060", "B=2"})
	want := []string{"A=1", pprofEnv + "=127.0.0.1:6061", "B=2"}
	if !slices.Equal(got, want) {
		t.Errorf("enginePprofEnv = %q, want %q", got, want)
	}
	for _, addr := range []string{"[::1]:80", "127.0.0.1:x", "nonsense"} {
		got := enginePprofEnv([]string{pprofEnv + "=" + addr})[0]
		want := map[string]string{"[::1]:80": pprofEnv + "=[::1]:81"}[addr]
		if want == "" {
			want = pprofEnv + "=" + addr
		}
		if got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}
