// Package dialer is the engine: it runs campaigns, places their calls
// through FreeSWITCH, follows every call by its events and decides each
// member's fate by the campaign's rules.
//
// Each running campaign has a loop (campaign.go) that owns its attempts:
// the switch's events, timers and the results of work done for it reach it
// through one ordered inbox, and it never waits on the network. Its store
// worker claims and journals members, its writer (outcome.go) is the one
// writer of its members, and one executor per FreeSWITCH node (exec.go)
// sends the commands. The attempt state machine is package attempt, the
// decision of how many calls to start package pacing. A scheduler offers
// the campaigns the chance to dial in order of priority, so the higher one
// takes shared lines first. Every timer and timestamp goes through one
// clock.
package dialer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer/pacing"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/store"
)

// Config wires an engine.
type Config struct {
	Store    *store.Store
	Switches Switches
	Clock    clock.Clock  // default the real clock
	Logger   *slog.Logger // default: discard
	Metrics  *Metrics     // default: unregistered metrics
	// Instance names this dialer in campaign leases (default: the host
	// name, so a dialer restarted on its host takes its campaigns back at
	// once; two dialers on one host need names of their own).
	Instance string
	// Tick is the scheduler's period (default 200 ms); it also runs when a
	// call ends or members arrive.
	Tick time.Duration
	// LeaseTTL is how long a member or campaign lease lasts unrenewed
	// (default 60 s); a dead dialer's members come back after it.
	LeaseTTL time.Duration
	// MaxPerTick bounds the originates of one campaign per tick (default 250).
	MaxPerTick int
	// CallsPerSecond paces the originates sent to each node (default 20:
	// FreeSWITCH refuses sessions past its sessions-per-second, 30 by
	// default, counted over every session of the switch, agents' and
	// inbound calls too; a negative value does not pace).
	// NodeCallsPerSecond sets it per node.
	CallsPerSecond     float64
	NodeCallsPerSecond map[string]float64
	// NoEndRecords stops asking the switches to record each call's end
	// (api_hangup_hook into mod_db), for switches without mod_db. A call
	// that ends while the dialer or its event socket is away is then
	// recorded lost and dialed again.
	NoEndRecords bool
	// RecordPath is where recordSession puts recordings; {campaign},
	// {member}, {attempt} and {date} are replaced.
	RecordPath string
	// Region is the default country (ISO 3166 code) for numbers without a
	// country code, to find their time zone.
	Region string
	// Hooks takes the call events for CRMs' webhooks (nil: none are
	// stored).
	Hooks Hooks
	// PredictivePacing chooses the policy of predictive campaigns:
	// PacingForecast (default: the pacing benchmark's best, docs/pacing.md)
	// or PacingPredictive (the first policy, Webitel v2's over-dial).
	PredictivePacing string
	// CallsCampaign is the id or the name of the campaign of
	// click-to-calls (Engine.Call): its resources route them, its agent
	// parameters and webhooks apply, and each destination is one of its
	// members. It dials on request only.
	CallsCampaign string
	// Inbound says what becomes of the calls the switches hand over
	// (ServeInbound).
	Inbound InboundConfig
}

// Engine runs the campaigns.
type Engine struct {
	cfg      Config
	st       *store.Store
	sw       Switches
	clock    clock.Clock
	log      *slog.Logger
	m        *Metrics
	zones    *zones
	lines    *lines
	agents   *agentPool
	sessions *sessions

	endRecords bool

	// routes are where each channel's events go (by uuid): the campaign
	// whose call it is, and the keeper of the agents' session legs (a
	// session leg's events go to both while a call holds it); every
	// event reads them, so they have a lock of their own.
	routesMu    sync.RWMutex
	routes      map[string]*runner
	sessionLegs map[string]bool

	mu        sync.Mutex
	runCtx    context.Context
	runners   map[string]*runner // campaign id
	totals    map[string]*Progress
	executors map[string]*executor // node

	wake     chan struct{} // run the scheduler now
	syncNow  chan struct{} // look at the campaigns now
	runnerWG sync.WaitGroup
	// adopting counts the campaign loops that have not yet taken back the
	// agents of the calls their journal holds. No campaign dials before
	// they have: a dialer away longer than a lease finds those agents'
	// reservations lapsed, and a new call could ring an agent still on an
	// adopted call's leg.
	adopting atomic.Int64

	// inbound are the outbound event socket connections of the calls that
	// came in and wait for an agent, by uuid: closing one hands its call
	// back to the dialplan.
	inboundMu sync.Mutex
	inbound   map[string]*esl.Conn
}

// Policies of predictive campaigns (Config.PredictivePacing).
const (
	PacingPredictive = "predictive" // pacing.Predictive
	PacingForecast   = "forecast"   // pacing.Forecast
)

// New returns an engine; Run starts it.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname()
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 200 * time.Millisecond
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 60 * time.Second
	}
	if cfg.MaxPerTick <= 0 {
		cfg.MaxPerTick = 250
	}
	if cfg.CallsPerSecond == 0 {
		cfg.CallsPerSecond = 20
	}
	if cfg.RecordPath == "" {
		cfg.RecordPath = "/var/lib/fsdialer/recordings/{campaign}/{date}/{attempt}.wav"
	}
	e := &Engine{
		cfg: cfg, st: cfg.Store, sw: cfg.Switches, clock: cfg.Clock, log: cfg.Logger, m: cfg.Metrics,
		zones:      newZones(cfg.Region),
		lines:      newLines(),
		agents:     newAgentPool(cfg.Store, cfg.Clock),
		endRecords: !cfg.NoEndRecords, runCtx: context.Background(),
		runners: map[string]*runner{}, routes: map[string]*runner{}, inbound: map[string]*esl.Conn{}, sessionLegs: map[string]bool{}, totals: map[string]*Progress{},
		executors: map[string]*executor{},
		wake:      make(chan struct{}, 1), syncNow: make(chan struct{}, 1),
	}
	e.sessions = newSessions(e)
	e.agents.changed = e.Wake
	return e
}

// Run runs the engine until ctx ends. Calls in flight then stay in the
// journal; the next start reconciles them with the switches.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	e.runCtx = ctx
	e.mu.Unlock()
	go e.agents.run(ctx, agentRefresh, e.m, func(err error) { e.log.Warn("dialer: agents not read", "error", err) })
	go e.sessions.run(ctx)
	tick := clock.NewTicker(e.clock, e.cfg.Tick)
	defer tick.Stop()
	sync := clock.NewTicker(e.clock, time.Second)
	defer sync.Stop()
	e.syncCampaigns(ctx)
	for {
		select {
		case <-ctx.Done():
			e.runnerWG.Wait()
			return ctx.Err()
		case <-tick.C:
			e.schedule(ctx)
		case <-e.wake:
			e.schedule(ctx)
		case <-sync.C:
			e.syncCampaigns(ctx)
		case <-e.syncNow:
			e.syncCampaigns(ctx)
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Wake asks the scheduler to dial now (a call ended, members arrived).
func (e *Engine) Wake() { signal(e.wake) }

// syncCampaigns starts a runner for every running campaign this engine can
// lease, and tells runners of campaigns no longer running to stop dialing.
func (e *Engine) syncCampaigns(ctx context.Context) {
	ids, err := e.st.CampaignIDs(ctx)
	if err != nil {
		if ctx.Err() == nil { // not a shutdown
			e.log.Warn("dialer: cannot list campaigns", "error", err)
		}
		return
	}
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = true
		c, err := e.st.GetCampaign(ctx, id)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
				e.log.Warn("dialer: cannot read campaign", "campaign", id, "error", err)
			}
			continue
		}
		e.mu.Lock()
		r := e.runners[id]
		e.mu.Unlock()
		switch {
		case r != nil:
			r.notify(c)
		case c.State == store.StateRunning:
			e.startRunner(ctx, c)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, r := range e.runners {
		if !known[id] {
			r.notify(nil) // deleted
		}
	}
}

// agentRefresh is how often the view of the agents reads their changes.
const agentRefresh = 100 * time.Millisecond

// startRunner leases the campaign and starts its loop.
func (e *Engine) startRunner(ctx context.Context, c *store.Campaign) {
	now := e.clock.Now()
	lease := store.Runner{Instance: e.cfg.Instance, Token: store.NewToken()}
	ok, err := e.st.AcquireRunner(ctx, c.ID, lease, now, now.Add(e.cfg.LeaseTTL))
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			e.log.Warn("dialer: cannot lease campaign", "campaign", c.ID, "error", err)
		}
		return // another dialer runs it
	}
	r := newRunner(e, c, lease)
	e.adopting.Add(1)
	e.mu.Lock()
	e.runners[c.ID] = r
	if e.totals[c.ID] == nil {
		e.totals[c.ID] = &Progress{Campaign: c.ID, Name: c.Name}
	}
	e.mu.Unlock()
	e.runnerWG.Add(1)
	go func() {
		defer e.runnerWG.Done()
		r.run(ctx)
		r.adopted() // if it never got there
		e.lines.drop(r)
		e.mu.Lock()
		if e.runners[c.ID] == r {
			delete(e.runners, c.ID)
		}
		e.mu.Unlock()
		r.updMu.Lock()
		deleted := r.deleted
		r.updMu.Unlock()
		if deleted {
			e.m.forgetCampaign(c.ID)
		}
		if err := e.st.ReleaseRunner(context.WithoutCancel(ctx), c.ID, lease); err != nil {
			e.log.Warn("dialer: campaign lease left to lapse", "campaign", c.ID, "error", err)
		}
	}()
	e.log.Info("dialer: campaign started", "campaign", c.ID, "name", c.Name)
}

// executor returns the executor of a node, started on first use.
func (e *Engine) executor(node string) *executor {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.executors[node]
	if x == nil {
		cps := e.cfg.CallsPerSecond
		if n, ok := e.cfg.NodeCallsPerSecond[node]; ok {
			cps = n
		}
		x = newExecutor(e.runCtx, node, e.sw, e.clock, cps)
		e.executors[node] = x
	}
	return x
}

// pacer is the pacing policy of a campaign.
func (e *Engine) pacer(c *store.Campaign, prev pacing.Pacer) pacing.Pacer {
	switch {
	case needsAgent(c):
		return pacing.Progressive{}
	case predictive(c) && e.cfg.PredictivePacing == PacingPredictive:
		return pacing.Predictive{}
	case predictive(c):
		// Forecast learns (talk times, the feedback on the abandon
		// rate): a campaign edit keeps it unless what it was built
		// from changed.
		noAnswer, connect := time.Duration(c.Parameters.OriginateTimeout)*time.Second, connectOf(c)
		if f, ok := prev.(*pacing.Forecast); ok && f.NoAnswer == noAnswer && f.Connect == connect {
			return f
		}
		f := &pacing.Forecast{NoAnswer: noAnswer, Connect: connect}
		if old, ok := prev.(*pacing.Forecast); ok {
			f.AnswerDelay = old.AnswerDelay
		}
		return f
	}
	return pacing.Lines{}
}

// schedule offers every running campaign the chance to dial, highest
// priority first.
func (e *Engine) schedule(ctx context.Context) {
	if e.adopting.Load() > 0 {
		// Adoptions are taking their agents back (see adopting). Decided
		// once for the whole pass: were it decided by each campaign, one
		// of low priority could dial first, the hold lifting in between.
		return
	}
	e.mu.Lock()
	rs := make([]*runner, 0, len(e.runners))
	for _, r := range e.runners {
		rs = append(rs, r)
	}
	e.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool {
		if pi, pj := rs[i].prio(), rs[j].prio(); pi != pj {
			return pi > pj
		}
		return rs[i].id < rs[j].id
	})
	for _, r := range rs {
		if r.starting.Load() {
			// A campaign still reading its plan would see the lines
			// taken by those below it before its first turn: they wait
			// for it (one store round trip).
			return
		}
		r.offerDial(ctx)
	}
}

// route registers where a channel's events go.
func (e *Engine) route(leg string, r *runner) {
	e.routesMu.Lock()
	e.routes[leg] = r
	e.routesMu.Unlock()
}

// unroute forgets a channel's route if it is still r's: an agent's
// session leg goes from campaign to campaign.
func (e *Engine) unroute(leg string, r *runner) {
	e.routesMu.Lock()
	if e.routes[leg] == r {
		delete(e.routes, leg)
	}
	e.routesMu.Unlock()
}

// HandleEvent takes a switch event (the esl clients' OnEvent) and queues
// it for the campaign whose call it is about, found by its channel
// (Unique-ID, or the Job-UUID of an originate: the uuid of the leg it
// placed). It never waits.
func (e *Engine) HandleEvent(node string, ev *esl.Event) {
	leg := legOf(ev)
	e.routesMu.RLock()
	r, session := e.routes[leg], e.sessionLegs[leg]
	e.routesMu.RUnlock()
	if r != nil {
		r.inbox.Push(inboxItem{event: ev})
	}
	if session {
		e.sessions.post(func() { e.sessions.event(ev) })
	}
}

func (e *Engine) routeSession(leg string) {
	e.routesMu.Lock()
	e.sessionLegs[leg] = true
	e.routesMu.Unlock()
}

func (e *Engine) unrouteSession(leg string) {
	e.routesMu.Lock()
	delete(e.sessionLegs, leg)
	e.routesMu.Unlock()
}

// HandleState takes a switch's connection state (the esl clients' OnState).
func (e *Engine) HandleState(node string, st esl.State, err error) {
	if st == esl.Connecting {
		return
	}
	v := 0.0
	if st == esl.Connected {
		v = 1
	}
	e.m.ESLConnected.WithLabelValues(node).Set(v)
	if st == esl.Connected {
		e.sessions.post(func() { e.sessions.nodeUp(node) })
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.runners {
		r.inbox.Push(inboxItem{node: node, up: st == esl.Connected})
	}
}

// StartCampaign sets a campaign running (seed 003: state 1).
func (e *Engine) StartCampaign(ctx context.Context, id string) (*store.Campaign, error) {
	c, err := e.st.GetCampaign(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("start campaign %s: fix it first: %w", id, err)
	}
	c, err = e.st.SetCampaignState(ctx, id, store.StateRunning, e.clock.Now())
	if err != nil {
		return nil, fmt.Errorf("start campaign %s: %w", id, err)
	}
	signal(e.syncNow)
	return c, nil
}

// StopCampaign stops a campaign dialing (seed 003: state 0); calls in
// progress end normally.
func (e *Engine) StopCampaign(ctx context.Context, id string) (*store.Campaign, error) {
	c, err := e.st.SetCampaignState(ctx, id, store.StateStopped, e.clock.Now())
	if err != nil {
		return nil, fmt.Errorf("stop campaign %s: %w", id, err)
	}
	e.CampaignChanged(ctx, c)
	return c, nil
}

// CampaignChanged hands a changed campaign to its runner and waits until
// the runner applied it: after a stop returns, no originate starts.
func (e *Engine) CampaignChanged(ctx context.Context, c *store.Campaign) {
	e.mu.Lock()
	r := e.runners[c.ID]
	e.mu.Unlock()
	if r != nil {
		r.notify(c)
		r.settle(ctx)
	}
	signal(e.syncNow)
}

// CalendarChanged hands the campaigns that use a calendar to their runners,
// which read the calendar again, and waits until they have.
func (e *Engine) CalendarChanged(ctx context.Context, calendarID string) error {
	e.mu.Lock()
	ids := make([]string, 0, len(e.runners))
	for id := range e.runners {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	for _, id := range ids {
		c, err := e.st.GetCampaign(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("calendar %s changed: %w", calendarID, err)
		case c.Calendar.ID == calendarID:
			e.CampaignChanged(ctx, c)
		}
	}
	return nil
}

// Progress is a campaign's running totals since this engine started it.
type Progress struct {
	Campaign  string
	Name      string
	Placed    int64
	Answered  int64
	Succeeded int64
	Retried   int64
	Finished  int64 // members that ended, whatever the cause
	InFlight  int
	// Calls meant for an agent: live answers, those bridged within the
	// connect threshold, and those abandoned (no agent took them).
	Live, ConnectedInTime, Abandoned int64
}

// Progress returns every campaign's totals.
func (e *Engine) Progress() []Progress {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Progress, 0, len(e.totals))
	for id, p := range e.totals {
		cp := *p
		if r := e.runners[id]; r != nil {
			cp.InFlight = int(r.inFlight.Load())
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Campaign < out[j].Campaign })
	return out
}

func (e *Engine) count(campaign string, f func(p *Progress)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.totals[campaign]; p != nil {
		f(p)
	}
}

// timed runs a store operation and records its latency.
func (e *Engine) timed(op string, f func() error) error {
	start := time.Now()
	err := f()
	e.m.RedisLat.WithLabelValues(op).Observe(time.Since(start).Seconds())
	return err
}
