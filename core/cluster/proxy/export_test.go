package proxy

import (
	"testing"
	"time"
)

// SetRecheckInterval makes the proxies started during the test recheck
// their open sessions every d.
func SetRecheckInterval(t testing.TB, d time.Duration) {
	old := recheckInterval
	recheckInterval = d
	t.Cleanup(func() { recheckInterval = old })
}
