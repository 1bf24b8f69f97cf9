package chaos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/sim"
)

// TestEndRecordOutlivesALostWrite: a member's lease is taken from the
// dialer while its call is up (another dialer's sweep, or the dialer's
// own after a Redis outage longer than lease_ttl), so the dialer's write
// of the call's outcome is refused (lease lost). The outcome is then in no
// call record, and the journal keeps the attempt open for whoever holds
// the member next: the switch's end record is the only account of how the
// call ended, and it must stay until an outcome is stored.
//
// make chaos found it (seed 101), on a dialer that deleted the record
// whenever the write failed for good: Redis down twice in a row for about 7 s
// (140 s of the dialer's clock, over its 60 s leases); when it came back,
// the dialer's own sweep took its members' lapsed leases while their
// outcomes waited to be written; the writes failed "member lease lost;
// another dialer has it", the dialer deleted the six calls' end records,
// adopted the open attempts under the new leases, found neither channel
// nor record and put the members back as never dialed: six calls answered
// for 6 to 31 s with no call record, and six members dialed again (one of
// them three more times, ending MAX_TRY_COUNT).
//
// Here the lease is taken by the test, through the store as another
// dialer would take it, which makes the order certain.
func TestEndRecordOutlivesALostWrite(t *testing.T) {
	r := newRun(t, size{name: "defect", members: 1, limit: 1, deadline: 3 * time.Minute}, 1)
	// The call answers at once and its message lasts 40 s (2 s real).
	r.scenario = "gateways: [{name: gw}]\nplayback: 40\ndefault: {answer: 1, ring: 1, talk: 300}\n"
	r.setUp()
	ctx := context.Background()

	var call sim.CallRecord
	r.waitFor("the member's call to be answered", time.Minute, func() bool {
		calls := r.ledgerNow().Calls
		if len(calls) == 0 || calls[0].Answered.IsZero() {
			return false
		}
		call = calls[0]
		return true
	})
	// Another holder takes the member: its lease seen as lapsed, a new
	// token, held for two minutes of the dialer's clock.
	now := r.dialerNow()
	taken, err := r.st.TakeLapsedLeases(ctx, r.camp, 10, now.Add(time.Hour), now.Add(2*time.Minute))
	if err != nil || len(taken) != 1 {
		t.Fatalf("took %d leases: %v", len(taken), err)
	}
	r.waitFor("the dialer's write to be refused", time.Minute, func() bool {
		b, _ := os.ReadFile(r.d.logPath(r.d.n))
		return strings.Contains(string(b), `msg="dialer: member lease lost; another dialer has it"`)
	})
	if recs, _, err := r.st.History(ctx, r.camp, "", 10); err != nil || len(recs) != 0 {
		t.Fatalf("call records %+v, %v: want none, the write was refused", recs, err)
	}
	if open, err := r.st.OpenAttempts(ctx, r.camp); err != nil || len(open) != 1 || open[0].ID != call.UUID {
		t.Fatalf("journal %+v, %v: want the attempt still open", open, err)
	}
	// What follows: the lease lapses, the dialer takes the member back,
	// adopts the open attempt and must record it as it ended.
	r.waitFor("the campaign to finish", 2*time.Minute, func() bool {
		c, err := r.st.GetCampaign(ctx, r.camp)
		return err == nil && c.State == "finished"
	})
	r.finish()
	led := r.ledger()
	// The switch's record of what the dialer asked: a delete of the end
	// record followed by a look for it is the dialer losing the call's end.
	deleted := false
	for _, c := range led.Commands {
		switch {
		case strings.Contains(c.Line, "db delete/fsdialer/"+call.UUID):
			deleted = true
		case deleted && strings.Contains(c.Line, "db select/fsdialer/"+call.UUID):
			t.Errorf("the dialer deleted the switch's end record of %s, its outcome unstored, then asked the switch for it", call.UUID)
			deleted = false
		}
	}
	for _, p := range Verify(led, r.recorded()).Problems() {
		t.Error(p)
	}
}

// ledgerNow reads fsim's ledger as it stands.
func (r *run) ledgerNow() sim.Ledger {
	f, err := os.Open(filepath.Join(r.dir, "ledger.jsonl"))
	if err != nil {
		return sim.Ledger{}
	}
	defer f.Close()
	led, _ := sim.ReadLedger(f)
	return led
}
