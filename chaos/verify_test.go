package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// A campaign of three members as the switch saw it: m1 reached at once,
// m2 busy then reached, m3 never answering.
func sampleRun() (sim.Ledger, Recorded) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	seq := uint64(0)
	call := func(uuid, member, dest string, answered bool, billmsec int64, cause string) sim.CallRecord {
		seq += 2
		c := sim.CallRecord{UUID: uuid, Destination: dest, Created: t0.Add(time.Duration(seq) * time.Second), CreatedSeq: seq,
			HungUp: t0.Add(time.Duration(seq+1) * time.Second), HungUpSeq: seq + 1, HangupCause: cause, Billmsec: billmsec, Billsec: billmsec / 1000,
			Variables: map[string]string{"dialer_campaign_id": "c1", "dialer_member_id": member, "dialer_attempt_id": uuid}}
		if answered {
			c.Answered = c.Created.Add(time.Second)
		}
		return c
	}
	led := sim.Ledger{Calls: []sim.CallRecord{
		call("a1", "m1", "380500000001", true, 12000, "NORMAL_CLEARING"),
		call("a2", "m2", "380500000002", false, 0, "USER_BUSY"),
		call("a3", "m3", "380500000003", false, 0, "NO_ANSWER"),
		call("a4", "m2", "380500000002", true, 7000, "NORMAL_CLEARING"),
		call("a5", "m3", "380500000003", false, 0, "NO_ANSWER"),
	}}
	rec := Recorded{Campaign: "c1", MinBillSec: 5, Attempts: 5, Members: map[string]MemberEnd{
		"m1": {State: store.MemberDone, EndCause: "NORMAL_CLEARING"},
		"m2": {State: store.MemberDone, EndCause: "NORMAL_CLEARING"},
		"m3": {State: store.MemberDone, EndCause: "MAX_TRY_COUNT"},
	}}
	for _, c := range led.Calls {
		cr := store.CallRecord{Attempt: c.UUID, Campaign: "c1", Member: c.Variables["dialer_member_id"], Cause: c.HangupCause, BillMsec: c.Billmsec}
		if !c.Answered.IsZero() {
			cr.AnsweredAt = c.Answered.UnixMilli()
		}
		rec.Records = append(rec.Records, cr)
	}
	return led, rec
}

// TestVerifyFindsEachFault: a run that kept every promise passes, and each
// broken promise is found, by the check meant for it.
func TestVerifyFindsEachFault(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(led *sim.Ledger, rec *Recorded)
		want  string // the problem's prefix; "" none
	}{
		{"a clean run", func(*sim.Ledger, *Recorded) {}, ""},
		{"two live channels to one number", func(led *sim.Ledger, _ *Recorded) {
			led.Calls[4].CreatedSeq = led.Calls[2].HungUpSeq - 1 // a5 made before a3 hung up
		}, "double dial"},
		{"a member left leased", func(_ *sim.Ledger, rec *Recorded) {
			rec.Members["m3"] = MemberEnd{State: store.MemberLeased}
		}, "lost member"},
		{"a member waiting with no due time", func(_ *sim.Ledger, rec *Recorded) {
			rec.Members["m3"] = MemberEnd{State: store.MemberWaiting}
		}, "lost member"},
		{"a call without a record", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records = rec.Records[:4]
		}, "unrecorded call"},
		{"a call recorded twice", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records = append(rec.Records, rec.Records[1])
		}, "duplicated record"},
		{"a record of no call", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records = append(rec.Records, store.CallRecord{Attempt: "a9", Member: "m3", Cause: "DIALER_LOST_CALL"})
		}, "record of no call"},
		{"the wrong cause", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records[0].Cause = "DIALER_LOST_CALL"
		}, "outcome mismatch"},
		{"the wrong bill time", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records[3].BillMsec = 4999
		}, "outcome mismatch"},
		{"an answer not recorded", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records[0].AnsweredAt = 0
		}, "outcome mismatch"},
		{"dialed again after a completed call", func(led *sim.Ledger, rec *Recorded) {
			// a2 reached m2, and was recorded so, and yet a4 followed
			led.Calls[1].Answered, led.Calls[1].Billmsec, led.Calls[1].HangupCause = led.Calls[1].Created.Add(time.Second), 6000, "NORMAL_CLEARING"
			rec.Records[1].AnsweredAt, rec.Records[1].BillMsec, rec.Records[1].Cause = led.Calls[1].Answered.UnixMilli(), 6000, "NORMAL_CLEARING"
		}, "redial after a completed call"},
		{"a reached member ended otherwise", func(_ *sim.Ledger, rec *Recorded) {
			rec.Members["m1"] = MemberEnd{State: store.MemberDone, EndCause: "MAX_TRY_COUNT"}
		}, "wrong end cause"},
		{"an attempts counter off", func(_ *sim.Ledger, rec *Recorded) {
			rec.Attempts = 6
		}, "attempts"},
		{"the journal left open", func(_ *sim.Ledger, rec *Recorded) {
			rec.Open = 1
		}, "journal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			led, rec := sampleRun()
			tc.spoil(&led, &rec)
			problems := Verify(led, rec).Problems()
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems in a clean run: %q", problems)
				}
				return
			}
			for _, p := range problems {
				if !strings.HasPrefix(p, tc.want) {
					t.Errorf("also %q", p)
				}
			}
			if len(problems) == 0 {
				t.Fatalf("no %s found", tc.want)
			}
		})
	}
}

func TestVerifyCounts(t *testing.T) {
	led, rec := sampleRun()
	r := Verify(led, rec)
	if r.Members != 3 || r.Channels != 5 || r.Answered != 2 || r.Completed != 2 || r.Records != 5 || r.Stillborn != 0 {
		t.Fatalf("report %+v", r)
	}
}
