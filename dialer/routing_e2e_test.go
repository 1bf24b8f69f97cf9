package dialer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/store"
)

const routingScenario = `
seed: 4
gateways: [{name: uk}, {name: first}, {name: second}, {name: off}, {name: shared}]
extensions: {ivr: {duration: 12}}
playback: {mean: 8}
default: {answer: 1, ring: 1, talk: 30}
`

// TestResourcesRouteNumbers: the first matching resource, its enabled
// destinations by order, dial strings with the pattern's groups, caller id.
func TestResourcesRouteNumbers(t *testing.T) {
	w := newWorld(t, routingScenario)
	w.startEngine()
	c := w.campaign(func(c *store.Campaign) {
		c.Resources = []store.Resource{
			{DialledNumber: `^\+44(\d+)$`, Destinations: []store.Destination{{GwName: "uk", DialString: "0$1", Enabled: true}}},
			{DialledNumber: `^\+\d+$`, Destinations: []store.Destination{
				{GwName: "off", Order: 0, Enabled: false},
				{GwName: "second", Order: 2, Enabled: true},
				{GwName: "first", Order: 1, Limit: 1, Enabled: true, CallerIDNumber: "5550001"},
			}},
		}
	})
	ids := w.add(c, mem("+442071234567"), mem("+380911111111"), mem("+380922222222"), mem("12345"))
	w.start(c)
	w.runUntil("all done", 5*time.Minute, w.ended(c, ids...))
	uk := w.obs.calls(ids[0])
	if len(uk) != 1 || uk[0].gateway != "uk" || uk[0].dest != "02071234567" {
		t.Fatalf("uk call %+v", uk)
	}
	var gws []string
	for _, call := range append(w.obs.calls(ids[1]), w.obs.calls(ids[2])...) {
		gws = append(gws, call.gateway)
		if call.gateway == "first" && call.callerID != "5550001" {
			t.Fatalf("caller id %q on first", call.callerID)
		}
	}
	// "first" (order 1) has room for one call: the other goes to "second".
	if strings.Join(gws, ",") != "first,second" && strings.Join(gws, ",") != "second,first" {
		t.Fatalf("gateways %v", gws)
	}
	if m, _ := w.member(c, ids[3]); m.EndCause != "NO_ROUTE_DESTINATION" || len(w.obs.calls(ids[3])) != 0 {
		t.Fatalf("unroutable number: %q, %d calls", m.EndCause, len(w.obs.calls(ids[3])))
	}
}

// TestSharedGatewayLimitAndCampaignPriority: two campaigns share a gateway
// limited to 2 calls; the limit holds across both, and the higher-priority
// campaign gets the lines first.
func TestSharedGatewayLimitAndCampaignPriority(t *testing.T) {
	w := newWorld(t, routingScenario)
	shared := []store.Resource{{DialledNumber: ".", Destinations: []store.Destination{{GwName: "shared", Limit: 2, Enabled: true}}}}
	low := w.campaign(func(c *store.Campaign) { c.Name, c.Priority, c.Resources = "low", 0, shared })
	high := w.campaign(func(c *store.Campaign) { c.Name, c.Priority, c.Resources = "high", 10, shared })
	var lowMs, highMs []*store.Member
	for i := 0; i < 4; i++ {
		lowMs = append(lowMs, mem("+38091000000"+string(rune('0'+i))))
		highMs = append(highMs, mem("+38092000000"+string(rune('0'+i))))
	}
	lowIDs, highIDs := w.add(low, lowMs...), w.add(high, highMs...)
	// Both are running when the dialer starts: started one after the
	// other, the first could rightly take the lines before the second runs.
	for _, c := range []*store.Campaign{low, high} {
		if _, err := w.st.UpdateCampaign(t.Context(), c.ID, w.clk.Now(), func(c *store.Campaign) error {
			c.State = store.StateRunning
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	w.startEngine()
	w.runUntil("all done", 10*time.Minute, func() bool { return w.ended(low, lowIDs...)() && w.ended(high, highIDs...)() })
	if n := w.obs.maxConcurrentOnGateway("shared"); n != 2 {
		t.Fatalf("%d calls at once on a gateway limited to 2", n)
	}
	calls := w.obs.calls("")
	for i, call := range calls[:4] {
		if call.campaign != high.ID {
			t.Fatalf("call %d went to the low-priority campaign before the high one was done: %v", i, calls)
		}
	}
}

// TestBroadcastToExtensionAndRecording: the message is a dialplan
// extension; recordSession records every answered call.
func TestBroadcastToExtensionAndRecording(t *testing.T) {
	w := newWorld(t, routingScenario)
	w.cfg = func(c *dialer.Config) { c.RecordPath = "/rec/{campaign}/{attempt}.wav" }
	w.startEngine()
	c := w.campaign(func(c *store.Campaign) {
		c.Broadcast = store.Broadcast{Extension: "ivr"}
		c.Parameters.RecordSession, c.Parameters.MinBillSec = true, 10
		c.Resources[0].Destinations[0].GwName = "first"
	})
	ids := w.add(c, mem("+380911111111"))
	w.start(c)
	w.runUntil("done", 2*time.Minute, w.ended(c, ids...))
	if m, _ := w.member(c, ids[0]); m.EndCause != "NORMAL_CLEARING" {
		t.Fatalf("end %q", m.EndCause)
	}
	rec := history(w, c)[ids[0]][0]
	if w.obs.count("RECORD_START") != 1 || rec.Recording != "/rec/"+c.ID+"/"+rec.Attempt+".wav" || rec.BillSec != 12 {
		t.Fatalf("recording: %d starts, record %+v", w.obs.count("RECORD_START"), rec)
	}
}

// originatesOf counts the originates of a campaign the switch received
// (its own record).
func originatesOf(w *world, campaign string) int {
	n := 0
	for _, c := range w.sw.Ledger().Commands {
		if strings.Contains(c.Line, "originate") && strings.Contains(c.Line, "dialer_campaign_id="+campaign) {
			n++
		}
	}
	return n
}

func placedBy(w *world, campaign string) int64 {
	for _, p := range w.eng.Progress() {
		if p.Campaign == campaign {
			return p.Placed
		}
	}
	return 0
}

// after is a runUntil condition: d of simulated time from now.
func after(w *world, d time.Duration) func() bool {
	until := w.clk.Now().Add(d)
	return func() bool { return !w.clk.Now().Before(until) }
}

// TestLifecycle: eternalQueue keeps waiting for members, autoRun starts a
// campaign when members arrive, stop stops dialing, unsupported types
// refuse to start.
func TestLifecycle(t *testing.T) {
	w := newWorld(t, routingScenario)
	w.startEngine()
	ctx := context.Background()
	eternal := w.campaign(func(c *store.Campaign) {
		c.Parameters.EternalQueue = true
		c.Resources[0].Destinations[0].GwName = "first"
	})
	w.start(eternal)
	w.runUntil("a minute passes", 2*time.Minute, after(w, time.Minute))
	if got, _ := w.st.GetCampaign(ctx, eternal.ID); got.State != store.StateRunning {
		t.Fatalf("an eternal queue without members is %s", got.State)
	}
	late := must[[]store.InsertResult](t)(w.eng.AddMembers(ctx, eternal.ID, []*store.Member{mem("+380911111111")}, false))
	w.runUntil("the late member is done", 2*time.Minute, w.ended(eternal, late[0].ID))

	auto := w.campaign(func(c *store.Campaign) { c.Resources[0].Destinations[0].GwName = "second" })
	res := must[[]store.InsertResult](t)(w.eng.AddMembers(ctx, auto.ID, []*store.Member{mem("+380922222222")}, true))
	w.runUntil("autoRun dialed the member", 2*time.Minute, w.ended(auto, res[0].ID))

	stopped := w.campaign(func(c *store.Campaign) { c.Resources[0].Destinations[0].GwName = "uk" })
	var ms []*store.Member
	for i := 0; i < 30; i++ {
		ms = append(ms, mem("+3809300000"+string(rune('0'+i/10))+string(rune('0'+i%10))))
	}
	w.add(stopped, ms...)
	w.start(stopped)
	w.runUntil("calls start", time.Minute, func() bool { return len(w.obs.campaignCalls(stopped.ID)) > 0 })
	must[*store.Campaign](t)(w.eng.StopCampaign(ctx, stopped.ID))
	// No originate is written once the stop returned; those written
	// before may still be on their way to the switch, and their
	// acknowledgements on their way back to the loop: let them land.
	time.Sleep(300 * time.Millisecond)
	sent := originatesOf(w, stopped.ID)
	w.runUntil("five minutes pass", 6*time.Minute, after(w, 5*time.Minute))
	if later, seen := originatesOf(w, stopped.ID), len(w.obs.campaignCalls(stopped.ID)); later != sent || seen != sent || sent > 10 {
		t.Fatalf("%d originates on the switch at the stop, %d five minutes later, %d calls (limit 10)", sent, later, seen)
	}

}
