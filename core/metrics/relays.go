package metrics

import "github.com/prometheus/client_golang/prometheus"

// Relays counts relayed connections (the proxy's sessions, the laptop's
// client connections): how many run now, and their bytes each way, added
// when each ends.
type Relays struct {
	active    prometheus.Gauge
	bytes     *prometheus.CounterVec
	out, back string // the direction label's two values
}

// NewRelays registers in reg a gauge of running relays (active) and a
// counter of their bytes (bytes, labelled direction: out, back).
func NewRelays(reg prometheus.Registerer, active prometheus.GaugeOpts, bytes prometheus.CounterOpts, out, back string) *Relays {
	r := &Relays{
		active: prometheus.NewGauge(active),
		bytes:  prometheus.NewCounterVec(bytes, []string{"direction"}),
		out:    out, back: back,
	}
	reg.MustRegister(r.active, r.bytes)
	r.bytes.WithLabelValues(out)
	r.bytes.WithLabelValues(back)
	return r
}

// Start counts a relay running; ended ends it with the bytes relayed each
// way.
func (r *Relays) Start() (ended func(out, back int64)) {
	r.active.Inc()
	return func(out, back int64) {
		r.active.Dec()
		r.bytes.WithLabelValues(r.out).Add(float64(max(out, 0)))
		r.bytes.WithLabelValues(r.back).Add(float64(max(back, 0)))
	}
}
