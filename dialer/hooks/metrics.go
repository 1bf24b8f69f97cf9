package hooks

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons (the reason label of dialer_hooks_dropped_total).
const (
	DropDeadline = "deadline" // not delivered within the hook's deadline
	DropRetries  = "retries"  // the hook's retries ran out
	DropInvalid  = "invalid"  // an outbox entry that is not an event
)

// metrics are the dispatcher's series (prefix dialer_hooks_), by hook.
type metrics struct {
	sent    *prometheus.CounterVec // hook
	failed  *prometheus.CounterVec // hook
	dropped *prometheus.CounterVec // hook, reason
	oldest  *prometheus.Desc       // hook: collected from the lanes at scrape time
	d       *Dispatcher
}

func newMetrics(d *Dispatcher, reg prometheus.Registerer) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialer_hooks_sent_total",
			Help: "Events delivered (a 2xx answer)."}, []string{"hook"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialer_hooks_failed_total",
			Help: "Delivery tries that got a non-2xx answer, an error or no answer in time."}, []string{"hook"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialer_hooks_dropped_total",
			Help: "Events given up: past the hook's deadline, out of retries, or not an event."}, []string{"hook", "reason"}),
		oldest: prometheus.NewDesc("dialer_hooks_oldest_pending_seconds",
			"Age of the oldest event this dialer is delivering to the hook and has not finished.", []string{"hook"}, nil),
		d: d,
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.failed, m.dropped, m)
	}
	return m
}

// Describe and Collect make the oldest pending age a collector: an age
// grows between events, so it is computed when scraped.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.oldest }

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	now := m.d.clock.Now().UnixMilli()
	for hook, oldest := range m.d.oldestPending() {
		age := 0.0
		if oldest > 0 && oldest < now {
			age = float64(now-oldest) / 1000
		}
		ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age, hook)
	}
}

// forget drops the series of a hook that is gone.
func (m *metrics) forget(hook string) {
	only := prometheus.Labels{"hook": hook}
	m.sent.DeletePartialMatch(only)
	m.failed.DeletePartialMatch(only)
	m.dropped.DeletePartialMatch(only)
}
