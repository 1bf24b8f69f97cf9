package hooks

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/store"
)

// Config wires a Dispatcher.
type Config struct {
	Store *store.Store
	Clock clock.Clock // default clock.Real{}
	// Instance names this dialer in the lanes' leases (default: the host
	// name, so a dialer restarted on its host takes its lanes back at
	// once). Two running dispatchers must not share one.
	Instance string
	// Client sends the requests (default: one that follows no redirect, so
	// a 3xx is a failed try; each request has its hook's timeout).
	Client     *http.Client
	Logger     *slog.Logger          // default: discard
	Registerer prometheus.Registerer // nil: metrics not registered
	// Poll is how often an idle lane looks for new events (default 500 ms;
	// Notify wakes them sooner).
	Poll time.Duration
	// Refresh is how often hooks and campaigns are read, lanes started or
	// stopped, and outboxes trimmed (default 5 s).
	Refresh time.Duration
	// LeaseTTL is how long a lane's lease outlives its last renewal
	// (default 30 s; the hook's timeout is added, so a request started
	// under the lease ends before it lapses).
	LeaseTTL time.Duration
	// Parallel is how many members' events one lane sends at once
	// (default 4). Events of one member are always sent one at a time.
	Parallel int
	// Window is how many outbox entries a lane holds at once, finished or
	// not (default 256): how far it reads past an event it cannot deliver.
	Window int
	// MaxBackoff caps the wait between tries (default 5 min, or the hook's
	// delay if that is longer).
	MaxBackoff time.Duration
}

// Dispatcher delivers the events of every campaign's outbox to the hooks
// that ask for them.
type Dispatcher struct {
	cfg    Config
	st     *store.Store
	clock  clock.Clock
	log    *slog.Logger
	client *http.Client
	m      *metrics
	stages []stage

	mu     sync.Mutex
	loaded bool
	hooks  map[string]*store.Hook // the enabled ones
	lanes  map[laneKey]*lane
}

type laneKey struct{ hook, campaign string }

// New returns a dispatcher; Run starts it.
func New(cfg Config) *Dispatcher {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname()
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.Window <= 0 {
		cfg.Window = 256
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	d := &Dispatcher{cfg: cfg, st: cfg.Store, clock: cfg.Clock, log: cfg.Logger, client: cfg.Client,
		hooks: map[string]*store.Hook{}, lanes: map[laneKey]*lane{}}
	d.m = newMetrics(d, cfg.Registerer)
	d.stages = []stage{filterStage, dedupStage, signStage, retryStage}
	return d
}

// Wants reports whether an enabled hook takes an event of a campaign, by
// the hooks last read (every Config.Refresh): the engine may skip building
// events nobody wants. Before the first read it says yes; a nil
// dispatcher (webhooks off) says no.
func (d *Dispatcher) Wants(campaign, event string) bool {
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loaded {
		return true
	}
	for _, h := range d.hooks {
		if h.Wants(campaign, event) {
			return true
		}
	}
	return false
}

// Notify tells the lanes of a campaign that events were appended, so they
// read them now rather than at their next poll.
func (d *Dispatcher) Notify(campaign string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, l := range d.lanes {
		if k.campaign == campaign {
			l.poke()
		}
	}
}

// Run delivers until ctx ends, then stops every lane: requests in flight
// are let finish (each within its hook's timeout), progress is saved and
// the leases released, so another dispatcher takes over at once.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	tick := clock.NewTicker(d.clock, d.cfg.Refresh)
	defer tick.Stop()
	for {
		if err := d.refresh(ctx, &wg); err != nil && ctx.Err() == nil {
			d.log.Warn("webhooks: reading hooks and outboxes", "err", err)
		}
		select {
		case <-ctx.Done():
			d.mu.Lock()
			for k, l := range d.lanes {
				l.stop()
				delete(d.lanes, k)
			}
			d.mu.Unlock()
			wg.Wait()
			return
		case <-tick.C:
		}
	}
}

// refresh reads the hooks and the campaigns, starts and stops lanes, and
// trims the outboxes.
func (d *Dispatcher) refresh(ctx context.Context, wg *sync.WaitGroup) error {
	hooks, err := d.st.ListHooks(ctx)
	if err != nil {
		return err
	}
	campaigns, err := d.st.OutboxCampaigns(ctx)
	if err != nil {
		return err
	}
	live, err := d.st.CampaignIDs(ctx)
	if err != nil {
		return err
	}
	exists := make(map[string]bool, len(live))
	for _, id := range live {
		exists[id] = true
	}
	enabled := map[string]*store.Hook{}
	for _, h := range hooks {
		if h.IsEnabled() {
			enabled[h.ID] = h
		}
	}
	want := map[laneKey]*store.Hook{}
	takers := map[string][]string{} // campaign -> the hooks that take its events
	for _, c := range campaigns {
		takers[c] = []string{}
		for _, h := range hooks {
			if h.IsEnabled() && (h.Campaign == "" || h.Campaign == c) {
				want[laneKey{h.ID, c}] = h
				takers[c] = append(takers[c], h.ID)
			}
		}
	}
	d.mu.Lock()
	for id := range d.hooks {
		if enabled[id] == nil {
			d.m.forget(id)
		}
	}
	d.hooks, d.loaded = enabled, true
	for k, l := range d.lanes {
		if h := want[k]; h != nil {
			l.hook.Store(h)
			continue
		}
		l.stop()
		delete(d.lanes, k)
	}
	if ctx.Err() == nil {
		for k, h := range want {
			if d.lanes[k] == nil {
				l := newLane(ctx, d, k, h)
				d.lanes[k] = l
				wg.Add(1)
				go func() {
					defer wg.Done()
					l.run()
				}()
			}
		}
	}
	d.mu.Unlock()
	// Trimmed with the hooks just read: a hook created after that read
	// could see entries it wanted trimmed only if its lane, on another
	// dialer, started and was overtaken within this refresh.
	var errs []error
	for _, c := range campaigns {
		if _, err := d.st.TrimOutbox(ctx, c, takers[c]); err != nil {
			errs = append(errs, err)
			continue
		}
		if !exists[c] {
			if _, err := d.st.DropOutbox(ctx, c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// oldestPending returns, per hook this dialer delivers to, the time (ms)
// of the oldest event it has not finished (0: none).
func (d *Dispatcher) oldestPending() map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int64{}
	for k, l := range d.lanes {
		o := l.oldest.Load()
		if cur, seen := out[k.hook]; !seen || o > 0 && (cur == 0 || o < cur) {
			out[k.hook] = o
		}
	}
	return out
}
