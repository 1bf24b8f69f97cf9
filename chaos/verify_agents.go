package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// AgentRun is what a run of a campaign with agents knows besides the
// ledger and the members: the agents as the store left them, when the
// dialer stopped, and when the run broke things.
type AgentRun struct {
	// Agents are the campaign's, by id.
	Agents map[string]AgentEnd
	// EndSeq is the ledger's last entry once the dialer had stopped and
	// before the switch did: a channel hung up after it (the switch's own
	// shutdown) was still up when the run ended.
	EndSeq uint64
	// Faults are the moments the run broke something, on the switch's
	// clock; Grace is how long after each the dialer may still be
	// catching up (see Abandoned).
	Faults []FaultWindow
	Grace  time.Duration
	// SafeHarbor is the message of a predictive campaign ("" for a
	// progressive one): a member answered and not bridged must hear it,
	// within Connect of the answer (the connect threshold) plus
	// LateSlack.
	SafeHarbor string
	Connect    time.Duration
	// MaxAbandon is the campaign's maxPredictiveSilentCalls (percent):
	// the answers that heard the message may be at most three times that share,
	// faults and all (a pacer that over-dials fails the run).
	MaxAbandon float64
}

// LateSlack is how much later than the connect threshold the
// safe-harbor message may start: the switch's playback starts one
// command after the dialer gave up, on a loaded machine.
const LateSlack = 2 * time.Second

// AgentEnd is an agent as the store left it.
type AgentEnd struct {
	Reach        string // store.ReachRing, store.ReachSession
	Status       string
	Session      string // the leg the store holds for the agent, "" none
	SessionState string // store.SessionRinging, store.SessionUp
}

// FaultWindow is a fault on the switch's clock: from the moment it struck
// to the moment what it broke was back (a dialer's new event socket, the
// socket's, Redis answering).
type FaultWindow struct {
	Kind        string // "dialer", "esl", "redis"
	From, Until time.Time
}

func (w FaultWindow) String() string {
	return fmt.Sprintf("%s %s..%s", w.Kind, w.From.Format("15:04:05.000"), w.Until.Format("15:04:05.000"))
}

// AgentReport adds to a Report what the ledger says of the agents.
type AgentReport struct {
	Report
	Agents        int
	RingLegs      int // an agent's phone rung for one member
	SessionLegs   int // an agent's persistent session calls
	MembersUp     int // member calls answered
	Bridged       int // member calls bridged to an agent
	AgentsBridged int // agents who talked to at least one member
	SessionsUp    int // session legs up at the end, as the store says
	Excused       []string

	AgentOverlaps []string // an agent (or a member) in two bridges at once
	AgentDoubles  []string // an agent with two legs live at once
	Abandoned     []string // a member answered, never bridged (nor told, if predictive), far from any fault
	// A predictive campaign: members answered and told the safe-harbor
	// message (abandoned, as the rules allow); those whose message, or
	// bridge, came later than the threshold allows, far from any fault;
	// members bridged within the connect threshold of their answer.
	SafeHarbor   int
	LateMessages []string
	LateBridges  []string
	// Of the answers outside every fault window: how many, how many told
	// the message, and the share over twice MaxAbandon, if it was.
	QuietAnswers, QuietTold int
	OverDialled             []string
	ConnectedInTime         int
	Stranded                []string // an agent's leg up at the end that no session explains
	Ghosts                  []string // a session the store holds up whose leg is gone
}

// VerifyAgents holds a progressive campaign with agents against the
// ledger: the member calls by Verify (the agents' legs left aside), and
// the agents' legs by their own rules:
//
//   - an agent is never in two bridges at once, across all its legs (a
//     session leg is bridged again and again; each ring leg once), and
//     no member call is either (sim.Ledger.BridgeOverlaps);
//   - an agent never has two legs live at once: one call rung at a time,
//     one session;
//   - a member call answered is bridged to an agent (a progressive
//     campaign dials a member only for an agent who is on the line), or
//     in a predictive campaign hears the safe-harbor message within the
//     connect threshold (plus LateSlack), unless it answered within a
//     fault window or its grace: a dialer killed, its socket cut or
//     Redis away between the answer and the bridge can leave the member
//     alone until they hang up;
//   - no agent leg is up at the end of the run unless it is the session
//     the store holds for its agent; and every session the store holds
//     up is a leg still up on the switch.
func VerifyAgents(led sim.Ledger, rec Recorded, run AgentRun) AgentReport {
	r := AgentReport{Report: Verify(led, rec), Agents: len(run.Agents)}

	type span struct {
		leg string
		sim.BridgeSpan
	}
	spans := map[string][]span{}             // by agent
	legs := map[string][]sim.CallRecord{}    // by agent
	bridgedAgents := map[string]bool{}       // agents who talked
	var memberCalls []sim.CallRecord         // the campaign's, not the agents'
	upAtEnd := func(c sim.CallRecord) bool { // live when the dialer stopped
		return !c.Stillborn && (c.HungUpSeq == 0 || (run.EndSeq > 0 && c.HungUpSeq > run.EndSeq))
	}
	for _, c := range led.Calls {
		agent := c.Variables["dialer_agent_id"]
		if agent == "" {
			if c.Variables["dialer_campaign_id"] == rec.Campaign {
				memberCalls = append(memberCalls, c)
			}
			continue
		}
		if _, ours := run.Agents[agent]; !ours && c.Variables["dialer_campaign_id"] != rec.Campaign {
			continue
		}
		if c.Variables["dialer_session"] == "true" {
			r.SessionLegs++
		} else {
			r.RingLegs++
		}
		legs[agent] = append(legs[agent], c)
		for _, b := range c.Bridges {
			spans[agent] = append(spans[agent], span{c.UUID, b})
		}
	}

	agents := make([]string, 0, len(legs))
	for a := range legs {
		agents = append(agents, a)
	}
	sort.Strings(agents)
	for _, a := range agents {
		ss := spans[a]
		if len(ss) > 0 {
			bridgedAgents[a] = true
		}
		sort.Slice(ss, func(i, j int) bool { return ss[i].FromSeq < ss[j].FromSeq })
		for i := 1; i < len(ss); i++ {
			if prev, next := ss[i-1], ss[i]; prev.UntilSeq == 0 || next.FromSeq < prev.UntilSeq {
				r.AgentOverlaps = append(r.AgentOverlaps, fmt.Sprintf("agent %s: bridged to %s (on %s) from %s while still bridged to %s (on %s)",
					a, next.Other, next.leg, next.From.Format(time.RFC3339Nano), prev.Other, prev.leg))
			}
		}
		ls := legs[a]
		sort.Slice(ls, func(i, j int) bool { return ls[i].CreatedSeq < ls[j].CreatedSeq })
		for i, x := range ls {
			if x.Stillborn {
				continue
			}
			for _, y := range ls[i+1:] {
				if y.Stillborn {
					continue
				}
				if x.HungUpSeq == 0 || y.CreatedSeq < x.HungUpSeq {
					r.AgentDoubles = append(r.AgentDoubles, fmt.Sprintf("agent %s: %s (%s) called from %s while %s (%s) was still up",
						a, y.UUID, legKind(y), y.Created.Format(time.RFC3339Nano), x.UUID, legKind(x)))
				}
			}
		}
		end := run.Agents[a]
		for _, x := range ls {
			if !upAtEnd(x) {
				continue
			}
			if legKind(x) == "session" && end.Session == x.UUID {
				r.SessionsUp++
				continue
			}
			r.Stranded = append(r.Stranded, fmt.Sprintf("agent %s: %s (%s, answered %v) still up at the end; the store's session for the agent: %q",
				a, x.UUID, legKind(x), !x.Answered.IsZero(), end.Session))
		}
	}
	ids := make([]string, 0, len(run.Agents))
	for id := range run.Agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		end := run.Agents[id]
		if end.Session == "" || end.SessionState != store.SessionUp {
			continue
		}
		live := false
		for _, x := range legs[id] {
			if x.UUID == end.Session && upAtEnd(x) {
				live = true
			}
		}
		if !live {
			r.Ghosts = append(r.Ghosts, fmt.Sprintf("agent %s: the store holds session %s up, the switch has no such leg up", id, end.Session))
		}
	}
	r.AgentsBridged = len(bridgedAgents)

	for _, o := range (sim.Ledger{Calls: memberCalls}).BridgeOverlaps() {
		r.AgentOverlaps = append(r.AgentOverlaps, "member call "+o.String())
	}
	sort.Slice(memberCalls, func(i, j int) bool { return memberCalls[i].CreatedSeq < memberCalls[j].CreatedSeq })
	for _, c := range memberCalls {
		if c.Stillborn || c.Answered.IsZero() {
			continue
		}
		r.MembersUp++
		quiet := len(excuses(run, c.Answered)) == 0
		if quiet {
			r.QuietAnswers++
		}
		if len(c.Bridges) > 0 {
			r.Bridged++
			switch wait := c.Bridges[0].From.Sub(c.Answered); {
			case run.SafeHarbor == "":
			case wait <= run.Connect:
				r.ConnectedInTime++
			case wait > run.Connect+LateSlack && len(excuses(run, c.Answered)) == 0:
				r.LateBridges = append(r.LateBridges, fmt.Sprintf("%s (member %s): answered %s, bridged %v later",
					c.UUID, c.Variables["dialer_member_id"], c.Answered.Format(time.RFC3339Nano), wait))
			}
			continue
		}
		if msg, ok := playedMessage(c, run.SafeHarbor); ok {
			r.SafeHarbor++
			if quiet {
				r.QuietTold++
			}
			if late := msg.Sub(c.Answered); late > run.Connect+LateSlack && len(excuses(run, c.Answered)) == 0 {
				r.LateMessages = append(r.LateMessages, fmt.Sprintf("%s (member %s): answered %s, the safe-harbor message %v later",
					c.UUID, c.Variables["dialer_member_id"], c.Answered.Format(time.RFC3339Nano), late))
			}
			continue
		}
		what := fmt.Sprintf("%s (member %s): answered %s, hung up %s (%s) after %d ms, never bridged",
			c.UUID, c.Variables["dialer_member_id"], c.Answered.Format(time.RFC3339Nano), c.HungUp.Format(time.RFC3339Nano), c.HangupCause, c.Billmsec)
		if ws := excuses(run, c.Answered); len(ws) > 0 {
			r.Excused = append(r.Excused, what+"; within "+strings.Join(ws, ", "))
			continue
		}
		r.Abandoned = append(r.Abandoned, what)
	}
	// Faults excuse a silent answer, not a message: the regulator counts
	// every abandoned call, and the dialer chose each of these.
	if share := 100 * float64(r.SafeHarbor) / max(float64(r.MembersUp), 1); run.MaxAbandon > 0 && r.MembersUp >= 50 && share > 3*run.MaxAbandon {
		r.OverDialled = append(r.OverDialled, fmt.Sprintf("%.1f %% of the %d answers heard the safe-harbor message (%d), over three times the campaign's ceiling of %g %%",
			share, r.MembersUp, r.SafeHarbor, run.MaxAbandon))
	}
	return r
}

// playedMessage returns when the switch started playing file to a call,
// if it did ("" plays nothing).
func playedMessage(c sim.CallRecord, file string) (time.Time, bool) {
	if file == "" {
		return time.Time{}, false
	}
	for _, app := range c.Applications {
		if app.Name == "playback" && app.Arg == file {
			return app.Started, true
		}
	}
	return time.Time{}, false
}

// excuses returns the fault windows whose span, or grace after it, holds t.
func excuses(run AgentRun, t time.Time) []string {
	var out []string
	for _, w := range run.Faults {
		if !t.Before(w.From) && !t.After(w.Until.Add(run.Grace)) {
			out = append(out, w.String())
		}
	}
	return out
}

func legKind(c sim.CallRecord) string {
	if c.Variables["dialer_session"] == "true" {
		return "session"
	}
	return "ring"
}

// Problems lists every fault found: the member calls' (Report.Problems)
// and the agents'.
func (r AgentReport) Problems() []string {
	out := r.Report.Problems()
	for _, group := range []struct {
		what string
		list []string
	}{
		{"agent in two bridges", r.AgentOverlaps}, {"agent called twice at once", r.AgentDoubles},
		{"abandoned member", r.Abandoned}, {"late safe-harbor message", r.LateMessages}, {"late bridge", r.LateBridges}, {"over-dialled", r.OverDialled}, {"stranded agent leg", r.Stranded}, {"ghost session", r.Ghosts},
	} {
		for _, s := range group.list {
			out = append(out, group.what+": "+s)
		}
	}
	return out
}
