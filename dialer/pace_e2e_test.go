package dialer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/store"
)

// TestAwaitedOriginatesGoFirst: at a pace of 2 originates a second, a
// broadcast fills the switch's originate queue while the first members of
// a predictive campaign with agents rung per call ring; each of their
// live answers' agent legs must still go out next, not behind the calls
// queued before it (they would take it past the connect threshold). By the switch's record: between a member's
// answer and the originate of its agent, at most one new call (the one
// the pace had let go already).
func TestAwaitedOriginatesGoFirst(t *testing.T) {
	w := newWorld(t, `
seed: 5
gateways: [{name: gw}]
default: {answer: 1, ring: 1, talk: 60}
numbers:
  - {pattern: "^\\+38091", answer: 1, ring: 6, talk: 60}
agents:
  - {extension: "100"}
  - {extension: "101"}
  - {extension: "102"}
  - {extension: "103"}
`)
	w.cfg = func(c *dialer.Config) { c.CallsPerSecond = 2 }
	w.startEngine()
	for _, id := range []string{"100", "101", "102", "103"} {
		w.agent(&store.Agent{ID: id}, store.AgentAvailable)
	}
	c := predictiveCampaign(w, func(c *store.Campaign) {
		// one call per ready agent (the warm-up): each answer has its agent
		c.Parameters.PredictAdjust, c.Parameters.Limit = 1000, 12
		c.Predictive.ConnectThreshold = 30
		c.Agents = []string{"100", "101", "102", "103"}
	})
	var ms []*store.Member
	for i := range 12 {
		ms = append(ms, mem(fmt.Sprintf("+38091%07d", i)))
	}
	ids := w.add(c, ms...)
	w.start(c)
	w.runUntil("the first members dialed", time.Minute, func() bool { return len(w.sw.Calls()) >= 4 })
	// While they ring, a broadcast on the same switch queues 60 calls.
	bc := w.campaign(func(c *store.Campaign) { c.Parameters.Limit = 60 })
	var flood []*store.Member
	for i := range 60 {
		flood = append(flood, mem(fmt.Sprintf("+38092%07d", i)))
	}
	w.add(bc, flood...)
	w.start(bc)
	defer func() {
		if t.Failed() {
			for _, call := range w.sw.Calls() {
				t.Logf("%s %s answered %v bridged %v cause %s agent %q", call.UUID[:8], call.Destination, !call.Answered.IsZero(), !call.Bridged.IsZero(), call.HangupCause, call.Variables["dialer_agent_id"])
			}
			m, _ := w.member(c, ids[0])
			t.Logf("member 0: %+v", m)
		}
	}()
	w.runUntil("four members bridged", 5*time.Minute, func() bool {
		n := 0
		for _, call := range w.sw.Calls() {
			if call.Variables["dialer_agent_id"] == "" && !call.Bridged.IsZero() {
				n++
			}
		}
		return n >= 4
	})
	led := w.sw.Ledger()
	answered := map[string]time.Time{} // member leg -> answer
	for _, call := range led.Calls {
		if call.Variables["dialer_agent_id"] == "" && !call.Answered.IsZero() {
			answered[call.UUID] = call.Answered
		}
	}
	agentFor := map[string]string{} // agent leg -> its member leg
	for _, call := range led.Calls {
		if a := call.Variables["dialer_agent_id"]; a != "" {
			agentFor[call.UUID] = call.Variables["dialer_attempt_id"]
		}
	}
	checked := 0
	for i, cmd := range led.Commands {
		if !strings.Contains(cmd.Line, "originate") || !strings.Contains(cmd.Line, "dialer_agent_id=") {
			continue
		}
		member := ""
		for leg, m := range agentFor {
			if strings.Contains(cmd.Line, "origination_uuid="+leg) {
				member = m
			}
		}
		at, ok := answered[member]
		if !ok {
			continue
		}
		between := 0
		for _, other := range led.Commands[:i] {
			if other.At.After(at) && strings.Contains(other.Line, "originate") && !strings.Contains(other.Line, "dialer_agent_id=") {
				between++ // a new call (other agents' legs are awaited too)
			}
		}
		if between > 1 {
			t.Errorf("the agent of member leg %s was originated after %d new calls sent since its answer", member, between)
		}
		checked++
	}
	if checked < 4 {
		t.Fatalf("only %d agent originates checked", checked)
	}
}
