// Package testkit is what VNet's tests share to wait and to clean up:
// goroutine-leak checks, polling until a condition holds, loopback ports
// nothing listens on, and a connection to a cluster for a test's
// lifetime. Waits have a deadline (Patience) only so that a broken test
// fails instead of hanging: no test asserts how long anything takes.
// Tests and test-helper packages import it; nothing else does.
package testkit

import "time"

// Patience bounds every wait here. It is generous on purpose: it turns a
// hang into a failure and measures nothing.
const Patience = time.Minute

// pollInterval is how often Eventually and CheckGoroutines look again.
const pollInterval = 10 * time.Millisecond
