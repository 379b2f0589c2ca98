package main

import "github.com/vnetproject/vnet/core/vnet"

// Status is what vnet_status writes.
type Status struct {
	State   State        `json:"state"`
	Error   string       `json:"error,omitempty"`
	Engine  vnet.Status  `json:"engine"`
	Packets PacketCounts `json:"packets"`
	Process ProcessStats `json:"process"`
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
