package dialer

import (
	"context"
	"errors"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

// notify hands the runner a newer campaign document (nil: deleted). A stop
// takes effect at once for the executors, before the loop sees it.
func (r *runner) notify(c *store.Campaign) {
	r.updMu.Lock()
	r.stopping.Store(c == nil || c.State != store.StateRunning)
	if c == nil {
		r.deleted = true
	} else {
		r.update = c
		r.priority.Store(int64(c.Priority))
	}
	r.updMu.Unlock()
	signal(r.updated)
}

// settle waits until the runner has applied the updates handed to it, its
// new plan included, and no originate of a stopped campaign is being
// written.
func (r *runner) settle(ctx context.Context) {
	r.request(ctx, r.syncs)
	r.gate.Lock() // an executor writing an originate holds it for reading
	r.gate.Unlock()
}

// offerDial lets the runner dial now and waits until it has taken its lines.
func (r *runner) offerDial(ctx context.Context) { r.request(ctx, r.turns) }

func (r *runner) request(ctx context.Context, ch chan chan struct{}) {
	done := make(chan struct{})
	select {
	case ch <- done:
	case <-ctx.Done():
		return
	case <-r.exited:
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	case <-r.exited:
	}
}

// applyUpdate takes the newest campaign document handed over; done, if not
// nil, is closed once it is applied.
func (r *runner) applyUpdate(done chan struct{}) {
	r.updMu.Lock()
	c, deleted := r.update, r.deleted
	r.update = nil
	r.updMu.Unlock()
	switch {
	case deleted:
		r.dialing = false
		r.e.lines.drop(r)
	case c != nil:
		r.applyCampaign(c, done)
		return
	}
	if done != nil {
		if r.building {
			r.planWait = append(r.planWait, done)
		} else {
			close(done)
		}
	}
}

// applyCampaign takes a campaign document: its state at once (a stop
// never waits on anything), its plan from the store worker.
func (r *runner) applyCampaign(c *store.Campaign, done chan struct{}) {
	r.camp = c
	r.priority.Store(int64(c.Priority))
	r.dialing = c.State == store.StateRunning
	if !r.dialing {
		r.e.lines.drop(r)
	}
	if done != nil {
		r.planWait = append(r.planWait, done)
	}
	if r.building {
		r.rebuild = true
		return
	}
	r.building = true
	r.do(func(ctx context.Context) {
		p, err := buildPlan(ctx, r.e.st, c)
		if err == nil {
			p.direct = r.e.isCalls(c)
		}
		r.post(func() { r.planBuilt(p, err) })
	})
}

func (r *runner) planBuilt(p *plan, err error) {
	r.building = false
	first := r.plan == nil
	switch {
	case err != nil:
		r.storeFailed("plan", err)
		r.rebuild = true // housekeeping tries again
		return
	case p.broken != nil:
		r.e.log.Error("dialer: campaign cannot dial", "campaign", r.id, "error", p.broken)
	}
	r.plan = p
	r.pace = r.e.pacer(p.camp, r.pace)
	r.calls.Store(p.direct)
	r.starting.Store(false)
	if first {
		// the journal's calls need the rules to be classified
		r.periodic("reconcile", 0, r.reconcile)
	}
	if r.rebuild { // a newer document came meanwhile
		r.rebuild = false
		r.applyCampaign(r.camp, nil)
		return
	}
	for _, done := range r.planWait {
		close(done)
	}
	r.planWait = nil
}

// canDial reports whether the campaign dials now.
func (r *runner) canDial() bool {
	return r.dialing && r.plan != nil && r.plan.broken == nil && !r.stopping.Load() && r.storeOK()
}

// periodic runs a store job at most once per period, never two at once:
// prepare runs on the loop and returns the job (nil: nothing to do), the
// job runs on the store worker and returns what to apply on the loop.
func (r *runner) periodic(name string, period time.Duration, prepare func() func(ctx context.Context) func()) {
	now := r.now()
	if r.busy[name] || now.Sub(r.last[name]) < period {
		return
	}
	job := prepare()
	if job == nil {
		return
	}
	r.busy[name], r.last[name] = true, now
	r.do(func(ctx context.Context) {
		apply := job(ctx)
		r.post(func() {
			r.busy[name] = false
			if apply != nil {
				apply()
			}
		})
	})
}

// housekeep starts the periodic work: renewals, sweeps, checks, gauges. It
// runs between inbox batches, never inside one.
func (r *runner) housekeep() {
	r.e.m.InFlight.WithLabelValues(r.id).Set(float64(r.inFlight.Load()))
	for node := range r.unkilled {
		if r.e.sw.Connected(node) {
			r.rekill(node)
		}
	}
	if !r.storeOK() {
		return
	}
	if r.rebuild && !r.building {
		r.rebuild = false
		r.applyCampaign(r.camp, nil)
	}
	ttl := r.e.cfg.LeaseTTL
	r.periodic("renew", ttl/3, r.renew)
	if r.plan == nil {
		return
	}
	if r.unreconciled {
		r.periodic("reconcile", 5*time.Second, r.reconcile)
	}
	r.periodic("results", time.Second, r.sweepResults)
	r.periodic("offers", time.Second, r.checkOffers)
	r.periodic("lapsed", ttl/2, r.sweepLapsed)
	r.periodic("finish", 5*time.Second, r.checkFinished)
	r.periodic("gauges", 5*time.Second, r.gauges)
	r.periodic("prune", 10*time.Minute, func() func(ctx context.Context) func() {
		return func(ctx context.Context) func() {
			if err := r.e.st.PruneWindows(ctx, r.id, r.e.clock.Now()); err != nil {
				return func() { r.storeFailed("prune windows", err) }
			}
			return nil
		}
	})
	r.periodic("reload", 30*time.Second, func() func(ctx context.Context) func() {
		return func(ctx context.Context) func() {
			c, err := r.e.st.GetCampaign(ctx, r.id)
			if err != nil {
				return nil // a deleted campaign is the engine's to tell
			}
			return func() { r.notify(c) }
		}
	})
	if r.camp.AutoResetStats {
		day := r.now().In(r.plan.rules.schedule.Location()).Format(time.DateOnly)
		if r.resetDay == "" {
			r.resetDay = day
		}
		if r.resetDay != day {
			r.periodic("reset", time.Second, func() func(ctx context.Context) func() {
				return func(ctx context.Context) func() {
					if err := r.e.st.ResetStats(ctx, r.id); err != nil {
						return func() { r.storeFailed("reset stats", err) } // the day stays: tried again
					}
					return func() { r.resetDay = day }
				}
			})
		}
	}
}

// checkFinished ends the campaign when its list is done (unless it is an
// eternal queue) or its calendar is over.
func (r *runner) checkFinished() func(ctx context.Context) func() {
	if !r.dialing {
		return nil
	}
	if r.plan.rules.schedule.Over(r.now()) {
		r.finish("calendar period over")
		return nil
	}
	if r.inFlight.Load() > 0 || r.camp.Parameters.EternalQueue || r.plan.direct {
		return nil
	}
	return func(ctx context.Context) func() {
		counts, err := r.e.st.MemberCounts(ctx, r.id)
		if err != nil {
			return func() { r.storeFailed("counts", err) }
		}
		left := counts[store.MemberReady] + counts[store.MemberWaiting] + counts[store.MemberLeased] + counts[store.MemberResult]
		return func() {
			if left == 0 && r.inFlight.Load() == 0 {
				r.finish("every member done")
			}
		}
	}
}

// finish marks the campaign finished.
func (r *runner) finish(why string) {
	if r.busy["finish!"] {
		return
	}
	r.busy["finish!"] = true
	r.do(func(ctx context.Context) {
		c, err := r.e.st.SetCampaignState(ctx, r.id, store.StateFinished, r.e.clock.Now())
		r.post(func() {
			r.busy["finish!"] = false
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					r.storeFailed("finish", err)
				}
				return
			}
			r.camp, r.dialing = c, false
			r.e.lines.drop(r)
			r.e.log.Info("dialer: campaign finished", "campaign", r.id, "why", why)
		})
	})
}

// gauges refreshes the member and abandon-rate gauges and the abandon
// windows the pacer sees.
func (r *runner) gauges() func(ctx context.Context) func() {
	return func(ctx context.Context) func() {
		st, err := r.e.st.CampaignStats(ctx, r.id, r.e.clock.Now())
		if err != nil {
			return func() { r.storeFailed("stats", err) }
		}
		return func() {
			for state, n := range st.Members {
				r.e.m.Members.WithLabelValues(r.id, state).Set(float64(n))
			}
			live, ab := st.Windows["live"], st.Windows["abandoned"]
			r.abandon.CallsHour = st.Windows["calls"].Hour
			r.abandon.LiveHour, r.abandon.AbandonedHour = live.Hour, ab.Hour
			r.abandon.LiveDay, r.abandon.AbandonedDay = live.Day, ab.Day
			r.abandon.LiveMonth, r.abandon.AbandonedMonth = live.Month, ab.Month
			r.completed = st.Counters["attempts"]
			r.abandon.MachineHour, r.abandon.MachineDay, r.abandon.MachineMonth = st.Windows["machine"].Hour, st.Windows["machine"].Day, st.Windows["machine"].Month
			for window, rate := range st.AbandonRates(r.camp.FalseMachineShare()) {
				r.e.m.AbandonRate.WithLabelValues(r.id, window).Set(rate)
			}
			for window, n := range map[string][2]int64{"1h": {live.Hour, ab.Hour}, "24h": {live.Day, ab.Day}, "30d": {live.Month, ab.Month}} {
				r.e.m.AbandonCounts.WithLabelValues(r.id, window, "live").Set(float64(n[0]))
				r.e.m.AbandonCounts.WithLabelValues(r.id, window, "abandoned").Set(float64(n[1]))
			}
		}
	}
}
