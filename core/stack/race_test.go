//go:build race

package stack_test

// The race detector slows the netstack about thirtyfold; a smaller
// transfer still crosses every path many times.
func init() { transferSize = 8 << 20 }
