package main

import "github.com/vnetproject/vnet/core/vnet"

// Status is the instance's state with the engine's status; vnet_status
// writes it as StatusJSON (wire.go), the bridge's own type.
type Status struct {
	State   State
	Error   string
	Engine  vnet.Status
	Packets PacketCounts
	Process ProcessStats
}

// status reports what the instance is doing now.
func (in *instance) status() Status {
	in.mu.Lock()
	st := Status{State: in.state, Error: in.err}
	in.mu.Unlock()
	st.Engine = in.runner.Status()
	st.Packets = in.queue.counts()
	st.Process = processStats()
	return st
}

// statusText is vnet_status's JSON for a buffer with room for room bytes
// of text: a text that did not fit is kept for the retry (measured).
func (in *instance) statusText(room uint64) []byte {
	return in.statusOut.text(room, func() []byte { return marshal(statusJSON(in.status())) })
}
