package platform

// ConcurrentWrites implements stack.ConcurrentWriter: each write(2) to a
// TUN is one whole packet, and the file takes writes from several
// goroutines at once, so the stack may write VNet's DNS answers on the
// goroutine that made them (issue 12).
func (t *TUN) ConcurrentWrites() bool { return true }
