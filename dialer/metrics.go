package dialer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics (prefix dialer_). Only what
// the engine feeds is here: a series that never moves would let an alert
// on it never fire.
type Metrics struct {
	Placed          *prometheus.CounterVec   // campaign
	Answered        *prometheus.CounterVec   // campaign
	LiveAnswered    *prometheus.CounterVec   // campaign
	Results         *prometheus.CounterVec   // campaign, outcome
	InFlight        *prometheus.GaugeVec     // campaign
	OriginateLat    prometheus.Histogram     // originate accepted -> CHANNEL_CREATE
	RingTime        *prometheus.HistogramVec // answered
	Refused         *prometheus.CounterVec   // node, cause
	RedisLat        *prometheus.HistogramVec // op
	ReserveLat      prometheus.Histogram     // one agent reservation
	Bridged         *prometheus.CounterVec   // campaign
	AnswerToBridge  prometheus.Histogram     // member answered -> bridged to the agent
	AMDWait         *prometheus.HistogramVec // result: answer -> AMD verdict
	AgentWait       prometheus.Histogram     // an agent's wait for a call
	AgentMissed     *prometheus.CounterVec   // why (missed, rejected, busy, unregistered)
	Agents          *prometheus.GaugeVec     // status, state
	Occupancy       prometheus.Gauge
	AgentSessions   *prometheus.GaugeVec   // state (ringing, up)
	ESLConnected    *prometheus.GaugeVec   // node
	AbandonRate     *prometheus.GaugeVec   // campaign, window
	AbandonCounts   *prometheus.GaugeVec   // campaign, window, count (live, abandoned)
	Abandoned       *prometheus.CounterVec // campaign
	SafeHarbor      *prometheus.CounterVec // campaign
	ConnectedInTime *prometheus.CounterVec // campaign
	Members         *prometheus.GaugeVec   // campaign, state
	WriteConflicts  prometheus.Counter
	LostCalls       *prometheus.CounterVec // campaign
	DNCListed       *prometheus.CounterVec // campaign, list (global, campaign)
	PendingWrites   prometheus.Gauge
	EventsProcessed prometheus.Counter
	InboundCalls    *prometheus.CounterVec // route
	CRMLookups      *prometheus.CounterVec // result (ok, failed)
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
		Placed:       c("calls_placed_total", "Originates the switch accepted.", "campaign"),
		Answered:     c("calls_answered_total", "Calls answered.", "campaign"),
		LiveAnswered: c("calls_live_answered_total", "Answered calls AMD did not call a machine, counted when classified.", "campaign"),
		Results:      c("call_results_total", "Classified attempts by outcome.", "campaign", "outcome"),
		InFlight:     g("calls_in_flight", "Calls being placed or talked.", "campaign"),
		OriginateLat: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dialer_originate_latency_seconds",
			Help:    "From the switch accepting an originate to the call's CHANNEL_CREATE (ring time is dialer_ring_seconds).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		RingTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dialer_ring_seconds",
			Help:    "From CHANNEL_CREATE to the answer (answered=true) or to the end of a call never answered.",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90}}, []string{"answered"}),
		Refused: c("originates_refused_total", "Originates the switch refused before any channel existed (not counted as attempts).", "node", "cause"),
		RedisLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dialer_redis_latency_seconds", Help: "Latency of the store operations the engine makes.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14)}, []string{"op"}),
		ReserveLat: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dialer_agent_reservation_seconds", Help: "One agent reservation in Redis (atomic across dialers).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 12)}),
		Bridged: c("calls_bridged_total", "Calls connected to an agent.", "campaign"),
		AnswerToBridge: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dialer_answer_to_bridge_seconds",
			Help:    "From a member's answer to the bridge with the agent: the dead air the member hears.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5}}),
		AMDWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dialer_amd_seconds",
			Help:    "From a member's answer to the AMD verdict (result HUMAN, MACHINE, NOTSURE, or none: no verdict in time): dead air for a person.",
			Buckets: []float64{0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8}}, []string{"result"}),
		AgentWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dialer_agent_wait_seconds",
			Help:    "How long an agent waited, ready, for the call it was reserved for.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600}}),
		AgentMissed:     c("agent_calls_missed_total", "Calls an agent's phone did not take, by why: missed (no answer), rejected, busy, unregistered.", "why"),
		Agents:          g("agents", "Agents by status and state, as this dialer sees them.", "status", "state"),
		Occupancy:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "dialer_agent_occupancy", Help: "Available agents in a call or its wrap-up, over available agents."}),
		AgentSessions:   g("agent_sessions", "Agents' persistent sessions (reach session) by state: ringing, up.", "state"),
		ESLConnected:    g("esl_connected", "1 while the event socket of a node is connected.", "node"),
		AbandonRate:     g("abandon_rate", "Abandoned calls over live answers, by window (1h, 24h, 30d).", "campaign", "window"),
		AbandonCounts:   g("abandon_window_calls", "The counts behind dialer_abandon_rate: live answers and abandoned calls in each window.", "campaign", "window", "count"),
		Abandoned:       c("calls_abandoned_total", "Live answers of calls meant for an agent that no agent took (silent calls), counted when classified.", "campaign"),
		SafeHarbor:      c("safe_harbor_total", "Safe-harbor messages played to live answers no agent took within the connect threshold.", "campaign"),
		ConnectedInTime: c("calls_connected_in_time_total", "Live answers bridged to an agent within the campaign's connect threshold.", "campaign"),
		Members:         g("members", "Members by state.", "campaign", "state"),
		WriteConflicts:  prometheus.NewCounter(prometheus.CounterOpts{Name: "dialer_member_write_conflicts_total", Help: "Member writes retried because the member changed meanwhile."}),
		LostCalls:       c("calls_lost_total", "Attempts whose end could not be learned (no channel, no end record).", "campaign"),
		DNCListed:       c("dnc_listed_total", "Numbers not dialed because a do-not-call list has them (list: global or campaign).", "campaign", "list"),
		PendingWrites:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "dialer_pending_writes", Help: "Member writes queued or waiting for Redis to come back."}),
		EventsProcessed: prometheus.NewCounter(prometheus.CounterOpts{Name: "dialer_events_total", Help: "Channel events applied to attempts."}),
		InboundCalls:    c("inbound_calls_total", "Calls the switches handed over, by where they went: agent (a member's callback, taken by its campaign to wait for an agent), or why they went back to the dialplan (no_agent: taken, and no agent in inbound.wait).", "route"),
		CRMLookups:      c("crm_lookups_total", "CRM lookups of inbound callers (failed: timed out, refused or not JSON; the defaults were set).", "result"),
	}
	if reg != nil {
		reg.MustRegister(m.Placed, m.Answered, m.LiveAnswered, m.Results, m.InFlight, m.OriginateLat, m.RingTime,
			m.Refused, m.RedisLat, m.ReserveLat, m.Bridged, m.AnswerToBridge, m.AMDWait, m.AgentWait, m.AgentMissed, m.Agents, m.Occupancy, m.AgentSessions, m.ESLConnected, m.AbandonRate, m.AbandonCounts, m.Abandoned, m.SafeHarbor, m.ConnectedInTime, m.Members, m.WriteConflicts, m.LostCalls,
			m.DNCListed, m.PendingWrites, m.EventsProcessed, m.InboundCalls, m.CRMLookups)
	}
	return m
}

// forgetCampaign drops the series of a deleted campaign.
func (m *Metrics) forgetCampaign(id string) {
	only := prometheus.Labels{"campaign": id}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.Placed, m.Answered, m.LiveAnswered, m.Results, m.InFlight, m.AbandonRate, m.AbandonCounts, m.Abandoned, m.SafeHarbor,
		m.ConnectedInTime, m.Members, m.LostCalls, m.Bridged, m.DNCListed,
	} {
		v.DeletePartialMatch(only)
	}
}
