package dialer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/dialer/lookup"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/store"
)

// Inbound calls (seed 004, section 2). The switch hands each call that
// comes in to the dialer through its outbound event socket (the socket
// application, deploy/dialplan-inbound.xml), with
// socket_resume=true so that a call the dialer closes its connection on
// goes on with the dialplan: to the fallback after the socket action.
//
// For each call the dialer asks the CRM (InboundConfig.Lookup) and sets
// its answer as channel variables, for the dialplan to route on. A caller
// who is a member of a campaign running here is that campaign's call: the
// member is leased and journaled as for a call the dialer placed, the
// call is answered and hears music on hold, and it waits for an agent as
// a predictive live answer does (the member's bucket agent if they are
// free, else one by the campaign's strategy), at most InboundConfig.Wait.
// Its offering and bridged webhooks say direction inbound. A caller with
// no agent in time, or who is no member, goes back to the dialplan;
// fsdialer_inbound says why.

// InboundConfig is what becomes of the calls the switches hand over.
type InboundConfig struct {
	// Lookup asks the CRM about each caller (nil: no lookup).
	Lookup *lookup.Client
	// Wait is how long a caller who is a member waits for an agent
	// before going back to the dialplan (default 30 s).
	Wait time.Duration
	// HoldMusic is played to a caller waiting for an agent (default
	// local_stream://moh).
	HoldMusic string
	// KeepMembers leaves a member whose callback reached an agent as it
	// was. By default the campaign's rules judge the callback as an
	// answered call of the campaign (minBillSec, waitingForResultStatus):
	// a callback that was a conversation ends the member.
	KeepMembers bool
}

// RouteVariable is the channel variable that says where the dialer sent a
// call that came in: "agent", or why it went back to the dialplan.
const RouteVariable = "fsdialer_inbound"

// Why a call went back to the dialplan (RouteVariable).
const (
	routeAgent       = "agent"
	routeNoMember    = "not_a_member"    // no running campaign has the caller's number
	routeNoNumber    = "no_caller_id"    // no number to look for
	routeUnavailable = "unavailable"     // the member's campaign cannot take the call now
	routeMemberBusy  = "member_in_call"  // the member is in another call
	routeNoAgent     = "no_agent"        // no agent took it in time
	routeFailed      = "dialer_error"    // Redis or the switch failed
	routeShutdown    = "dialer_stopping" // the dialer is stopping
)

func (e *Engine) inboundWait() time.Duration {
	return cmp.Or(e.cfg.Inbound.Wait, 30*time.Second)
}

// ServeInbound takes the calls the switches hand over on l (their socket
// application connects there) until ctx ends. Calls still waiting for an
// agent then go back to the dialplan; calls with an agent go on.
func (e *Engine) ServeInbound(ctx context.Context, l net.Listener) error {
	return esl.ServeOutbound(ctx, l, esl.Config{}, func(c *esl.Conn, data *esl.Event) {
		e.takeCall(ctx, c, data)
	}, func(err error) {
		e.log.Warn("dialer: inbound connection failed", "error", err)
	})
}

// inboundCall is a call that came in from a member of a running campaign.
type inboundCall struct {
	uuid, node string
	r          *runner
	member     string
	number     string // normalized
	endRecord  bool   // the switch will keep an end record of it
}

// takeCall handles one call the switch handed over, on the connection's
// own goroutine (it waits on the CRM and Redis; no event waits on it).
func (e *Engine) takeCall(ctx context.Context, c *esl.Conn, data *esl.Event) {
	uuid, cid := data.UniqueID(), data.Get("Caller-Caller-ID-Number")
	log := e.log.With("uuid", uuid, "cid", cid)
	// Known before the campaign has the call: it may give up on the call
	// (handBack) as soon as it has it.
	e.inboundMu.Lock()
	e.inbound[uuid] = c
	e.inboundMu.Unlock()
	defer func() {
		e.inboundMu.Lock()
		delete(e.inbound, uuid)
		e.inboundMu.Unlock()
	}()
	vars := map[string]string{}
	if lk := e.cfg.Inbound.Lookup; lk != nil {
		res := lk.Lookup(ctx, cid)
		vars = res.Variables
		result := "ok"
		if res.Err != nil {
			result = "failed"
			log.Warn("dialer: CRM lookup failed: its defaults stand", "tries", res.Tries, "error", res.Err)
		}
		e.m.CRMLookups.WithLabelValues(result).Inc()
	}
	call, route := e.findCaller(ctx, uuid, cid)
	if call != nil && e.endRecords {
		// The end record of a call the dialer places is asked for in its
		// originate; a call that came in gets it here, before it is
		// journaled: a dialer that dies during the callback leaves its
		// successor the record of how it ended, not a lost call to dial
		// again. uuid_setvar does not expand the ${} the hook holds.
		if _, err := c.API(ctx, "uuid_setvar "+uuid+" api_hangup_hook "+endRecordHook); err != nil {
			log.Warn("dialer: end record of an inbound call not asked for", "error", err)
			call, route = nil, routeFailed
		} else {
			call.endRecord = true
		}
	}
	if call != nil {
		route = e.handOver(ctx, call)
	}
	vars[RouteVariable] = route
	e.m.InboundCalls.WithLabelValues(route).Inc()
	log.Info("dialer: inbound call", "route", route)
	if err := setVariables(ctx, c, vars); err != nil {
		log.Warn("dialer: variables of an inbound call not set", "error", err)
	}
	if route != routeAgent {
		c.Close() // socket_resume: the dialplan goes on
		return
	}
	// The campaign has the call: answered, it seeks an agent.
	if err := execute(ctx, c, "answer", ""); err != nil {
		log.Warn("dialer: inbound call not answered", "error", err)
	}
	if err := execute(ctx, c, "playback", cmp.Or(e.cfg.Inbound.HoldMusic, "local_stream://moh")); err != nil {
		log.Warn("dialer: no music on hold", "error", err)
	}
	select {
	case <-c.Done(): // the call is over (or handed back, or the switch went away)
	case <-ctx.Done():
		c.Close() // an agent's call goes on; a caller still waiting goes back to the dialplan
	}
}

// handBack sends a call that came in back to the dialplan: no agent took
// it in time. It is called on a campaign's loop, so the command and the
// close go on a goroutine of their own.
func (e *Engine) handBack(uuid string) {
	e.inboundMu.Lock()
	c := e.inbound[uuid]
	e.inboundMu.Unlock()
	if c == nil {
		return // the call is over, or its connection is gone: the switch resumed the dialplan
	}
	e.m.InboundCalls.WithLabelValues(routeNoAgent).Inc()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = execute(ctx, c, "set", RouteVariable+"="+routeNoAgent)
		c.Close()
	}()
}

// findCaller finds the campaign running here that has the caller's number
// (the one of highest priority when several do), and the switch the call
// is on.
func (e *Engine) findCaller(ctx context.Context, uuid, cid string) (*inboundCall, string) {
	number, err := store.NormalizeNumber(cid)
	if err != nil {
		return nil, routeNoNumber
	}
	e.mu.Lock()
	var runners []*runner
	for _, r := range e.runners {
		if !r.calls.Load() {
			runners = append(runners, r)
		}
	}
	e.mu.Unlock()
	sort.Slice(runners, func(i, j int) bool {
		if a, b := runners[i].prio(), runners[j].prio(); a != b {
			return a > b
		}
		return runners[i].id < runners[j].id
	})
	// A caller id comes with or without the + of a number stored with it.
	forms := []string{number, "+" + number}
	if rest, ok := strings.CutPrefix(number, "+"); ok {
		forms[1] = rest
	}
	for _, r := range runners {
		for _, n := range forms {
			id, err := e.st.MemberIDByNumber(ctx, r.id, n)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				e.log.Warn("dialer: inbound caller not looked up", "uuid", uuid, "campaign", r.id, "error", err)
				return nil, routeFailed
			}
			node := e.nodeOf(ctx, uuid)
			if node == "" {
				return nil, routeFailed
			}
			return &inboundCall{uuid: uuid, node: node, r: r, member: id, number: n}, ""
		}
	}
	return nil, routeNoMember
}

// nodeOf is the connected switch that has the channel uuid ("" none).
func (e *Engine) nodeOf(ctx context.Context, uuid string) string {
	for _, name := range e.sw.Names() {
		sw := e.sw.Node(name)
		if sw == nil || !e.sw.Connected(name) {
			continue
		}
		if out, err := sw.API(ctx, "uuid_exists "+uuid); err == nil && strings.TrimSpace(out) == "true" {
			return name
		}
	}
	e.log.Warn("dialer: no connected switch has the inbound call", "uuid", uuid)
	return ""
}

// handOver makes the call its campaign's and returns the route. A
// campaign that is starting (building its plan, taking back the calls of
// its journal), or a member the campaign holds for a moment (claimed in a
// turn that does not call it), is asked again for up to two seconds.
func (e *Engine) handOver(ctx context.Context, call *inboundCall) string {
	r := call.r
	for try := 0; ; try++ {
		answer := make(chan taken, 1)
		r.post(func() { r.takeInbound(call, answer) })
		var t taken
		select {
		case t = <-answer:
		case <-r.exited:
			return routeUnavailable
		case <-ctx.Done():
			return routeShutdown
		}
		if !t.again || try == 20 {
			return t.route
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return routeShutdown
		}
	}
}

// taken is a campaign's answer to a call handed over: its route, and
// whether asking again soon may change it.
type taken struct {
	route string
	again bool
}

// takeInbound, on the loop, checks that the campaign can take the call,
// then leases the member and journals the call on the store worker, and
// makes it a flight.
func (r *runner) takeInbound(call *inboundCall, answer chan<- taken) {
	p := r.plan
	switch {
	case p == nil || r.e.adopting.Load() > 0:
		answer <- taken{route: routeUnavailable, again: true}
		return
	case p.broken != nil || r.stopping.Load() || !r.storeOK():
		answer <- taken{route: routeUnavailable}
		return
	}
	for _, f := range r.flights {
		if f.member.ID == call.member {
			answer <- taken{route: routeMemberBusy} // dialed now: one call at a time
			return
		}
	}
	r.do(func(ctx context.Context) {
		now := r.e.clock.Now()
		cl, err := r.e.st.ClaimMember(ctx, r.id, call.member, now.Add(r.e.cfg.LeaseTTL))
		switch {
		case errors.Is(err, store.ErrConflict):
			answer <- taken{route: routeMemberBusy, again: true}
			return
		case err != nil:
			r.e.log.Warn("dialer: inbound caller's member not leased", "campaign", r.id, "member", call.member, "error", err)
			answer <- taken{route: routeFailed}
			return
		}
		idx := slices.IndexFunc(cl.Member.Communications, func(c store.Communication) bool {
			n, err := store.NormalizeNumber(c.Number)
			return err == nil && n == call.number
		})
		a := &store.Attempt{ID: call.uuid, Campaign: r.id, Member: cl.Member.ID, Token: cl.Token, Number: call.number,
			CommIndex: idx, RangeIndex: -1, Node: call.node, StartedAt: now.UnixMilli(), Inbound: true, EndRecord: call.endRecord}
		if idx >= 0 {
			a.Number = cl.Member.Communications[idx].Number
			err = r.e.timed("journal", func() error { return r.e.st.OpenAttempt(ctx, a) })
		} else {
			err = fmt.Errorf("%w: member %s no longer has %s", store.ErrConflict, cl.Member.ID, call.number)
		}
		r.post(func() {
			if err != nil {
				r.e.log.Warn("dialer: inbound call not taken", "campaign", r.id, "member", cl.Member.ID, "error", err)
				r.hold(putBack(p, cl, "", 0))
				answer <- taken{route: routeFailed}
				return
			}
			f := &flight{a: attempt.NewInbound(a.ID, a.Node, r.e.inboundWait(), a.EndRecord, now), journal: a, member: cl.Member,
				lease: newLease(cl.Token), choice: choice{index: idx, rangeIdx: -1}}
			r.track(f)
			r.step(f, attempt.Input{Kind: attempt.Create})
			answer <- taken{route: routeAgent}
		})
	})
}

// setVariables sets channel variables through the call's connection, in
// name order.
func setVariables(ctx context.Context, c *esl.Conn, vars map[string]string) error {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := execute(ctx, c, "set", k+"="+vars[k]); err != nil {
			return fmt.Errorf("set %s: %w", k, err)
		}
	}
	return nil
}

// execute runs an application on the call of an outbound connection.
func execute(ctx context.Context, c *esl.Conn, app, arg string) error {
	hs := []esl.Header{{Name: "call-command", Value: "execute"}, {Name: "execute-app-name", Value: app}}
	if arg != "" {
		hs = append(hs, esl.Header{Name: "execute-app-arg", Value: arg})
	}
	m, err := c.Send(ctx, "sendmsg", hs, "")
	if err != nil {
		return err
	}
	if reply := m.Get("Reply-Text"); strings.HasPrefix(reply, "-ERR") {
		return fmt.Errorf("%s: %s", app, reply)
	}
	return nil
}
