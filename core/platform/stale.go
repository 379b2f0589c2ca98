package platform

import "os"

// StaleResolvConf reports whether the resolver configuration at path is
// one a VNet wrote and left behind when it stopped without cleaning up
// (kill -9, a crash), and that VNet's pid. `vnet status` warns about it
// and `vnet down` restores it (RestoreStale) without starting VNet.
func StaleResolvConf(path string) (pid int, stale bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	_, pid, ok := unwrapResolvConf(b)
	if !ok || pid == os.Getpid() {
		return 0, false
	}
	return pid, !processAlive(pid)
}
