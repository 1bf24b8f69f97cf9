package dialer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

const basicScenario = `
seed: 3
gateways: [{name: gw}, {name: gw2}]
playback: {mean: 8}
numbers:
  - {pattern: "^1", answer: 1, ring: 2, talk: 60}   # listens to the whole message
  - {pattern: "^2", busy: 1, setup: 0.5}
  - {pattern: "^3", reject: 1, setup: 0.5}
  - {pattern: "^4", answer: 0}                      # rings out
  - {pattern: "^5", answer: 1, ring: 1, talk: 2}    # hangs up after 2 s
`

func TestBroadcastEndToEnd(t *testing.T) {
	w := newWorld(t, basicScenario)
	w.startEngine()
	c := w.campaign(nil)
	var ms []*store.Member
	for i := 0; i < 20; i++ {
		ms = append(ms, mem(fmt.Sprintf("100%04d", i)))
	}
	ids := w.add(c, ms...)
	w.start(c)
	w.runUntil("all 20 members done", 5*time.Minute, w.ended(c, ids...))
	for _, id := range ids {
		m, state := w.member(c, id)
		if m.EndCause != "NORMAL_CLEARING" || state != store.MemberDone || m.Attempts != 1 {
			t.Fatalf("member %s: %s %s after %d attempts", id, m.EndCause, state, m.Attempts)
		}
	}
	if got := len(w.obs.calls("")); got != 20 {
		t.Fatalf("%d calls placed, want 20", got)
	}
	for _, call := range w.obs.calls("") {
		if call.channel != "sofia/external/"+call.dest || call.campaign != c.ID || call.member == "" {
			t.Fatalf("call %+v", call)
		}
	}
	h := history(w, c)
	rec := h[ids[0]][0]
	if rec.Outcome != "success" || rec.BillSec != 8 || rec.Cause != "NORMAL_CLEARING" || rec.EndCause != "NORMAL_CLEARING" {
		t.Fatalf("call record %+v", rec)
	}
	w.runUntil("the campaign finishes", 10*time.Second, func() bool {
		got, _ := w.st.GetCampaign(t.Context(), c.ID)
		return got.State == store.StateFinished
	})
	if w.obs.maxConcurrentPerMember() != 1 {
		t.Fatalf("a member had %d calls at once", w.obs.maxConcurrentPerMember())
	}
}
