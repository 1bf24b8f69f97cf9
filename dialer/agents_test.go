package dialer

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/store"
)

// The candidates for a call, best first by the campaign's strategy: only
// ready agents who serve it (its agents, or one of its skills), or only a
// bucket's agents for a member bound to the bucket.
func TestCandidatesByStrategy(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	sec := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	view := func(id string, calls int, talk int64, readySince time.Duration, skills, buckets []string, ready bool) store.AgentView {
		l := &store.AgentLive{Status: store.AgentAvailable, State: store.AgentWaiting, CallsAnswered: calls, TalkTime: talk, LastBridgeEnd: sec(readySince)}
		if !ready {
			l.State, l.ReadyTime = store.AgentWrapUp, now.Add(time.Minute).Unix()
		}
		return store.AgentView{Agent: &store.Agent{ID: id, Skills: skills, Buckets: buckets}, Live: l}
	}
	p := newAgentPool(nil, clock.NewFake(now))
	for _, v := range []store.AgentView{
		view("a", 5, 900, 10*time.Second, []string{"sales"}, nil, true),
		view("b", 1, 1200, 5*time.Minute, []string{"sales"}, nil, true),
		view("c", 3, 100, time.Minute, []string{"support"}, []string{"vip"}, true),
		view("d", 0, 0, time.Hour, []string{"sales"}, nil, false), // in wrap-up
		view("e", 2, 50, 2*time.Minute, nil, nil, true),           // serves no campaign below by skill
	} {
		p.agents[v.ID] = v
	}
	for _, tc := range []struct {
		strategy, bucket string
		want             string
	}{
		{"longest-idle-agent", "", "b,c,a"},
		{"", "", "b,c,a"}, // the default
		{"agent-with-fewest-calls", "", "b,c,a"},
		{"agent-with-least-talk-time", "", "c,a,b"},
		{"longest-idle-agent", "vip", "c"},
	} {
		c := &store.Campaign{Skills: []string{"sales"}, Agents: []string{"c"}, AgentStrategy: tc.strategy}
		var ids []string
		for _, cand := range p.candidates(c, tc.bucket, now) {
			ids = append(ids, cand.ID)
		}
		if got := strings.Join(ids, ","); got != tc.want {
			t.Errorf("%s (bucket %q): %s, want %s", tc.strategy, tc.bucket, got, tc.want)
		}
	}
	c := &store.Campaign{Skills: []string{"sales"}, AgentStrategy: "random"}
	if n := len(p.candidates(c, "", now)); n != 2 {
		t.Errorf("random: %d candidates, want 2", n)
	}
	if n := p.ready(c, now); n != 2 {
		t.Errorf("%d ready for the campaign, want 2", n)
	}
}

// A campaign's agentParams override the agent's own where set.
func TestAgentTerms(t *testing.T) {
	a := &store.Agent{CallTimeout: 15, WrapUpTime: 30, MaxNoAnswer: 3, NoAnswerDelayTime: 60}
	c := &store.Campaign{AgentParams: store.AgentParams{WrapUpTime: 10, BusyDelayTime: 5}}
	got := termsOf(a, c)
	want := agentTerms{callTimeout: 15, wrapUp: 10, maxNoAnswer: 3, busyDelay: 5, noAnswerDelay: 60}
	if got != want {
		t.Fatalf("terms %+v, want %+v", got, want)
	}
}

// What the pacer sees of a campaign's agents: the ready ones counted, each
// talking one's time in call, a reserved one as a call just begun, each
// wrap-up's or delay's time left; agents not available, unregistered or
// not serving the campaign left out.
func TestAgentLoadForThePacer(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := newAgentPool(nil, clock.NewFake(now))
	add := func(id, status, state string, edit func(l *store.AgentLive)) {
		l := &store.AgentLive{Status: status, State: state}
		if edit != nil {
			edit(l)
		}
		p.agents[id] = store.AgentView{Agent: &store.Agent{ID: id, Skills: []string{"sales"}}, Live: l}
	}
	add("ready", store.AgentAvailable, store.AgentWaiting, nil)
	add("talking", store.AgentAvailable, store.AgentInCall, func(l *store.AgentLive) {
		l.Attempt, l.Until, l.LastBridgeStart = "a0", now.Add(time.Minute).UnixMilli(), now.Add(-90*time.Second).Unix()
	})
	add("reserved", store.AgentAvailable, store.AgentReserved, func(l *store.AgentLive) {
		l.Attempt, l.Until = "a1", now.Add(time.Minute).UnixMilli()
	})
	add("wrapping", store.AgentAvailable, store.AgentWrapUp, func(l *store.AgentLive) { l.ReadyTime = now.Add(7 * time.Second).Unix() })
	add("missed", store.AgentAvailable, store.AgentIdle, func(l *store.AgentLive) { l.ReadyTime = now.Add(20 * time.Second).Unix() })
	add("on break", store.AgentOnBreak, store.AgentIdle, nil)
	add("unregistered", store.AgentAvailable, store.AgentIdle, func(l *store.AgentLive) { l.Reason = store.IdleUnregistered })
	p.agents["other"] = store.AgentView{Agent: &store.Agent{ID: "other", Skills: []string{"support"}}, Live: &store.AgentLive{Status: store.AgentAvailable, State: store.AgentWaiting}}

	a := p.load(&store.Campaign{Skills: []string{"sales"}}, now)
	slices.Sort(a.InCall)
	slices.Sort(a.WrapUp)
	if a.Idle != 1 || !slices.Equal(a.InCall, []time.Duration{0, 90 * time.Second}) || !slices.Equal(a.WrapUp, []time.Duration{7 * time.Second, 20 * time.Second}) {
		t.Fatalf("load %+v", a)
	}
}
