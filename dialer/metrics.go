package dialer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics (prefix dialer_).
type Metrics struct {
	Placed          *prometheus.CounterVec   // campaign
	Answered        *prometheus.CounterVec   // campaign
	LiveAnswered    *prometheus.CounterVec   // campaign
	Abandoned       *prometheus.CounterVec   // campaign
	Bridged         *prometheus.CounterVec   // campaign
	Results         *prometheus.CounterVec   // campaign, outcome
	InFlight        *prometheus.GaugeVec     // campaign
	OriginateLat    prometheus.Histogram     // bgapi sent -> BACKGROUND_JOB
	AnswerToBridge  prometheus.Histogram     // answer -> agent bridged
	RedisLat        *prometheus.HistogramVec // op
	ESLConnected    *prometheus.GaugeVec     // node
	AbandonRate     *prometheus.GaugeVec     // campaign, window
	DialRatio       *prometheus.GaugeVec     // campaign
	Members         *prometheus.GaugeVec     // campaign, state
	AgentsByState   *prometheus.GaugeVec     // state
	WriteConflicts  prometheus.Counter
	LostCalls       *prometheus.CounterVec // campaign
	PendingWrites   prometheus.Gauge
	EventsProcessed prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialer_" + name, Help: help}, labels)
	}
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dialer_" + name, Help: help}, labels)
	}
	m := &Metrics{
		Placed:       c("calls_placed_total", "Originates sent.", "campaign"),
		Answered:     c("calls_answered_total", "Calls answered.", "campaign"),
		LiveAnswered: c("calls_live_answered_total", "Calls answered by a person (not a machine).", "campaign"),
		Abandoned:    c("calls_abandoned_total", "Live answers not connected to an agent in time.", "campaign"),
		Bridged:      c("calls_bridged_total", "Calls connected to an agent.", "campaign"),
		Results:      c("call_results_total", "Classified attempts by outcome.", "campaign", "outcome"),
		InFlight:     g("calls_in_flight", "Calls being placed or talked.", "campaign"),
		OriginateLat: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dialer_originate_latency_seconds", Help: "From bgapi originate to its BACKGROUND_JOB.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
		AnswerToBridge: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dialer_answer_to_bridge_seconds", Help: "From a live answer to the agent bridge.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10}}),
		RedisLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dialer_redis_latency_seconds", Help: "Latency of the store operations the engine makes.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14)}, []string{"op"}),
		ESLConnected:    g("esl_connected", "1 while the event socket of a node is connected.", "node"),
		AbandonRate:     g("abandon_rate", "Abandoned calls over live answers, by window (1h, 24h, 30d).", "campaign", "window"),
		DialRatio:       g("dial_ratio", "Calls in flight per available agent.", "campaign"),
		Members:         g("members", "Members by state.", "campaign", "state"),
		AgentsByState:   g("agents", "Agents by state.", "state"),
		WriteConflicts:  prometheus.NewCounter(prometheus.CounterOpts{Name: "dialer_member_write_conflicts_total", Help: "Member writes retried because the member changed meanwhile."}),
		LostCalls:       c("calls_lost_total", "Attempts whose end was never seen (switch or dialer lost).", "campaign"),
		PendingWrites:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "dialer_pending_writes", Help: "Classified attempts waiting for Redis to come back."}),
		EventsProcessed: prometheus.NewCounter(prometheus.CounterOpts{Name: "dialer_events_total", Help: "Channel events applied to attempts."}),
	}
	if reg != nil {
		reg.MustRegister(m.Placed, m.Answered, m.LiveAnswered, m.Abandoned, m.Bridged, m.Results, m.InFlight,
			m.OriginateLat, m.AnswerToBridge, m.RedisLat, m.ESLConnected, m.AbandonRate, m.DialRatio, m.Members,
			m.AgentsByState, m.WriteConflicts, m.LostCalls, m.PendingWrites, m.EventsProcessed)
	}
	return m
}
