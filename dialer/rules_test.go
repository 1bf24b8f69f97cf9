package dialer

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/store"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func workweek(tz string, from, to int) *store.Calendar {
	c := &store.Calendar{ID: "cal", Timezone: tz}
	for d := 1; d <= 5; d++ {
		c.Week = append(c.Week, store.WorkRange{Day: d, StartTime: from, EndTime: to})
	}
	return c
}

func TestScheduleNextOpen(t *testing.T) {
	kyiv, ny := mustLoc(t, "Europe/Kyiv"), mustLoc(t, "America/New_York")
	at := func(loc *time.Location, s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	office := workweek("Europe/Kyiv", 9*60, 18*60)
	sunday := &store.Calendar{ID: "sun", Timezone: "America/New_York", Week: []store.WorkRange{{Day: 7, StartTime: 9 * 60, EndTime: 10 * 60}, {Day: 6, StartTime: 9 * 60, EndTime: 10 * 60}}}
	dated := workweek("Europe/Kyiv", 9*60, 18*60)
	dated.StartDate, dated.EndDate = "2026-12-01", "2026-12-31"
	dated.Holidays = []store.Holiday{{Date: "2025-12-25", Repeat: true}, {Date: "2026-12-07"}}
	for _, tc := range []struct {
		name   string
		cal    *store.Calendar
		now    time.Time
		member *time.Location
		want   time.Time // zero: never
	}{
		{"before hours", office, at(kyiv, "2026-11-23 08:59"), kyiv, at(kyiv, "2026-11-23 09:00")},
		{"in hours", office, at(kyiv, "2026-11-23 12:00"), kyiv, at(kyiv, "2026-11-23 12:00")},
		{"friday evening waits for monday", office, at(kyiv, "2026-11-27 18:00"), kyiv, at(kyiv, "2026-11-30 09:00")},
		{"member's local hours, not the calendar's", office, at(kyiv, "2026-11-23 12:00"), ny, at(ny, "2026-11-23 09:00")},
		{"spring forward: 09:00 EDT is 13:00 UTC", sunday, at(ny, "2026-03-07 11:00"), ny, time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC)},
		{"the day before: 09:00 EST is 14:00 UTC", sunday, at(ny, "2026-03-07 08:00"), ny, time.Date(2026, 3, 7, 14, 0, 0, 0, time.UTC)},
		{"fall back: 09:00 EST is 14:00 UTC", sunday, at(ny, "2026-10-31 11:00"), ny, time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC)},
		{"before the start date", dated, at(kyiv, "2026-11-20 12:00"), kyiv, at(kyiv, "2026-12-01 09:00")},
		{"one-off holiday", dated, at(kyiv, "2026-12-07 10:00"), kyiv, at(kyiv, "2026-12-08 09:00")},
		{"yearly holiday", dated, at(kyiv, "2026-12-25 10:00"), kyiv, at(kyiv, "2026-12-28 09:00")},
		{"after the end date", dated, at(kyiv, "2026-12-31 18:00"), kyiv, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSchedule(tc.cal)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := s.NextOpen(tc.now, tc.member)
			if tc.want.IsZero() {
				if ok {
					t.Fatalf("open at %v, want never", got)
				}
				return
			}
			if !ok || !got.Equal(tc.want) {
				t.Fatalf("next open %v (%v), want %v", got.UTC(), ok, tc.want.UTC())
			}
			if s.OpenAt(tc.now, tc.member) != tc.now.Equal(tc.want) {
				t.Fatalf("OpenAt disagrees with NextOpen")
			}
		})
	}
}

func TestZoneOfMember(t *testing.T) {
	z := newZones("UA")
	utc := time.UTC
	for _, tc := range []struct {
		tz, number, want string
	}{
		{"America/Chicago", "+380911234567", "America/Chicago"},
		{"", "+380911234567", "Europe/Kyiv"},
		{"", "+12125551234", "America/New_York"},
		{"", "0911234567", "Europe/Kyiv"}, // national number, default region UA
		{"", "+9991234567", "UTC"},        // no such country code: the fallback
	} {
		got := z.of(&store.Member{Timezone: tc.tz}, tc.number, utc)
		if got.String() != tc.want && !(tc.want == "Europe/Kyiv" && got.String() == "Europe/Kiev") {
			t.Errorf("%q %s: %s, want %s", tc.tz, tc.number, got, tc.want)
		}
	}
}

func testCampaign() *store.Campaign {
	c := &store.Campaign{ID: "c1", Name: "c", Type: store.TypeBroadcast,
		Parameters: store.Parameters{Limit: 10, MaxTryCount: 3, IntervalTryCount: 600, MinBillSec: 10, OriginateTimeout: 30},
		Resources:  []store.Resource{{DialledNumber: ".", Destinations: []store.Destination{{GwName: "gw", Enabled: true}}}},
		Broadcast:  store.Broadcast{File: "/m.wav"},
	}
	c.Normalize()
	c.Causes.OK = []string{"ATTENDED_TRANSFER"}
	return c
}

func testMember(numbers ...string) *store.Member {
	m := &store.Member{ID: "m1"}
	for _, n := range numbers {
		m.Communications = append(m.Communications, store.Communication{Number: n})
	}
	return m
}

var now0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(c *store.Campaign, m *store.Member)
		out     attempt.Outcome
		verdict string
		end     string
		tries   int
		stopped bool
		next    time.Duration // from now0, when it is retried
	}{
		{"busy is retried", nil, attempt.Outcome{Cause: "USER_BUSY"}, "retry", "", 1, false, 10 * time.Minute},
		{"an error cause stops the number and, the last one, the member", nil, attempt.Outcome{Cause: "CALL_REJECTED"}, "error", "CALL_REJECTED", 1, true, 0},
		{"minus does not count", nil, attempt.Outcome{Cause: "NORMAL_CIRCUIT_CONGESTION"}, "minus", "", 0, false, 10 * time.Minute},
		{"ok ends with the cause", nil, attempt.Outcome{Cause: "ATTENDED_TRANSFER"}, "ok", "ATTENDED_TRANSFER", 1, false, 0},
		{"a cause in no list is retried", nil, attempt.Outcome{Cause: "PROTOCOL_ERROR"}, "retry", "", 1, false, 10 * time.Minute},
		{"answered long enough", nil, attempt.Outcome{Cause: "NORMAL_CLEARING", Answered: true, BillMsec: 10000}, "success", EndSuccess, 1, false, 0},
		{"answered but short", nil, attempt.Outcome{Cause: "NORMAL_CLEARING", Answered: true, BillMsec: 9999}, "short_call", "", 1, false, 10 * time.Minute},
		{"last allowed attempt", func(c *store.Campaign, m *store.Member) { m.Attempts = 2 }, attempt.Outcome{Cause: "NO_ANSWER"}, "retry", EndMaxTryCount, 3, false, 0},
		{"maxTryCount 0 is unlimited", func(c *store.Campaign, m *store.Member) { c.Parameters.MaxTryCount = 0; m.Attempts = 99 }, attempt.Outcome{Cause: "NO_ANSWER"}, "retry", "", 100, false, 10 * time.Minute},
		{"expires before the next try", func(c *store.Campaign, m *store.Member) { m.Expire = now0.Add(5 * time.Minute).UnixMilli() }, attempt.Outcome{Cause: "NO_ANSWER"}, "retry", EndMemberExpired, 1, false, 0},
		{"one-day task ends at midnight", func(c *store.Campaign, m *store.Member) {
			c.Parameters.OneDayTask, c.Parameters.IntervalTryCount = true, 14*3600
		}, attempt.Outcome{Cause: "NO_ANSWER"}, "retry", EndMemberExpired, 1, false, 0},
		{"terminated while dialing", func(c *store.Campaign, m *store.Member) { m.Terminate = true }, attempt.Outcome{Cause: "NO_ANSWER"}, "retry", EndTerminated, 1, false, 0},
		{"lost calls count as retries", nil, attempt.Outcome{Cause: CauseLost}, "lost", "", 1, false, 10 * time.Minute},
		{"an abandoned member ends unless retryAbandoned", nil, attempt.Outcome{Cause: "NORMAL_CLEARING", Answered: true, BillMsec: 30000, Abandoned: true}, "abandoned", EndAbandoned, 1, false, 0},
		{"retryAbandoned tries the member again", func(c *store.Campaign, m *store.Member) { c.Parameters.RetryAbandoned = true },
			attempt.Outcome{Cause: "NORMAL_CLEARING", Answered: true, BillMsec: 30000, Abandoned: true}, "abandoned", "", 1, false, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, m := testCampaign(), testMember("380911111111")
			if tc.setup != nil {
				tc.setup(c, m)
			}
			r := newRules(c, AlwaysOpen)
			v := r.classify(m, "a1", choice{index: 0, rangeIdx: -1}, tc.out, now0)
			if v.Outcome != tc.verdict || m.EndCause != tc.end || m.Attempts != tc.tries || m.Communications[0].Stopped != tc.stopped {
				t.Fatalf("verdict %q end %q attempts %d stopped %v; want %q %q %d %v", v.Outcome, m.EndCause, m.Attempts, m.Communications[0].Stopped, tc.verdict, tc.end, tc.tries, tc.stopped)
			}
			if tc.next > 0 && m.NextTryAt != now0.Add(tc.next).UnixMilli() {
				t.Fatalf("next try %v, want %v", time.UnixMilli(m.NextTryAt).UTC(), now0.Add(tc.next))
			}
			if len(m.History) != 1 || m.History[0].Attempt != "a1" {
				t.Fatalf("history %+v", m.History)
			}
		})
	}
}

func TestRetriesByNumber(t *testing.T) {
	c := testCampaign()
	c.Parameters.RetriesByNumber, c.Parameters.MaxTryCount = true, 2
	r := newRules(c, AlwaysOpen)
	m := testMember("1111", "2222")
	m.Communications[0].Priority = 5
	local := func(string) time.Time { return now0 }
	var dialed []string
	for i := 0; i < 4; i++ {
		ch, ok, _ := r.chooseNumber(m, local)
		if !ok {
			t.Fatalf("attempt %d: no number", i)
		}
		dialed = append(dialed, m.Communications[ch.index].Number)
		r.classify(m, "a", ch, attempt.Outcome{Cause: "NO_ANSWER"}, now0)
	}
	if strings.Join(dialed, ",") != "1111,1111,2222,2222" || m.EndCause != EndMaxTryCount {
		t.Fatalf("dialed %v, end %q", dialed, m.EndCause)
	}
}

// A number whose call was abandoned is not dialed predictively again
// within the lock-out; the member's other numbers may be; a progressive
// campaign (an agent guaranteed) may call it at once.
func TestAbandonLockout(t *testing.T) {
	for _, tc := range []struct {
		typ     string
		numbers []string
		want    string // the number dialed next, or "wait <duration>"
	}{
		{store.TypePredictive, []string{"1111"}, "wait 72h0m0s"},
		{store.TypePredictive, []string{"1111", "2222"}, "2222"},
		{store.TypeProgressive, []string{"1111"}, "1111"},
	} {
		c := testCampaign()
		c.Type, c.Parameters.RetryAbandoned, c.Parameters.MaxTryCount = tc.typ, true, 0
		r := newRules(c, AlwaysOpen)
		m := testMember(tc.numbers...)
		m.Communications[0].Priority = 9
		r.classify(m, "a", choice{index: 0, rangeIdx: -1}, attempt.Outcome{Cause: "NORMAL_CLEARING", Answered: true, Abandoned: true}, now0)
		later := now0.Add(time.Hour)
		ch, ok, wait := r.chooseNumber(m, func(string) time.Time { return later })
		got := "wait " + wait.Sub(now0).String()
		if ok {
			got = m.Communications[ch.index].Number
		}
		if got != tc.want {
			t.Errorf("%s %v: %s, want %s", tc.typ, tc.numbers, got, tc.want)
		}
	}
}

func TestNumberStrategies(t *testing.T) {
	local := func(string) time.Time { return now0 }
	for _, tc := range []struct {
		strategy string
		want     string
	}{
		{store.NumbersByPriority, "3333,3333,3333,3333"},
		{store.NumbersTopDown, "3333,2222,1111,3333"},
	} {
		c := testCampaign()
		c.NumberStrategy, c.Parameters.MaxTryCount = tc.strategy, 0
		r := newRules(c, AlwaysOpen)
		m := testMember("1111", "2222", "3333")
		for i := range m.Communications {
			m.Communications[i].Priority = i
		}
		var dialed []string
		for i := 0; i < 4; i++ {
			ch, _, _ := r.chooseNumber(m, local)
			dialed = append(dialed, m.Communications[ch.index].Number)
			r.classify(m, "a", ch, attempt.Outcome{Cause: "NO_ANSWER"}, now0)
		}
		if got := strings.Join(dialed, ","); got != tc.want {
			t.Errorf("%s: dialed %s, want %s", tc.strategy, got, tc.want)
		}
	}
}

func TestCommunicationTypeRanges(t *testing.T) {
	c := testCampaign()
	c.Parameters.MaxTryCount = 0
	c.Communications.Types = []store.CommType{
		{Code: "1", Ranges: []store.TimeRange{{StartTime: 540, EndTime: 1080, Attempts: 2, Priority: 10}}},
		{Code: "2", Ranges: []store.TimeRange{{StartTime: 1080, EndTime: 1260, Attempts: 1, Priority: 5}}},
	}
	r := newRules(c, AlwaysOpen)
	m := testMember("1111", "2222")
	m.Communications[0].Type, m.Communications[1].Type = "1", "2"
	at := func(h, min int) func(string) time.Time {
		return func(string) time.Time { return time.Date(2026, 11, 23, h, min, 0, 0, time.UTC) }
	}
	// 10:00: only type 1 is in its range, twice a day
	for i := 0; i < 2; i++ {
		ch, ok, _ := r.chooseNumber(m, at(10, 0))
		if !ok || ch.index != 0 || ch.rangeIdx != 0 {
			t.Fatalf("10:00 attempt %d: %+v %v", i, ch, ok)
		}
		r.classify(m, "a", ch, attempt.Outcome{Cause: "NO_ANSWER"}, at(10, 0)(""))
	}
	_, ok, wait := r.chooseNumber(m, at(10, 5))
	if ok || !wait.Equal(time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)) {
		t.Fatalf("after the range's attempts: ok %v, wait until %v", ok, wait)
	}
	ch, ok, _ := r.chooseNumber(m, at(18, 30))
	if !ok || ch.index != 1 {
		t.Fatalf("18:30: %+v %v", ch, ok)
	}
	r.classify(m, "a", ch, attempt.Outcome{Cause: "NO_ANSWER"}, at(18, 30)(""))
	if _, ok, wait := r.chooseNumber(m, at(19, 0)); ok || !wait.Equal(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("after every range: ok %v wait %v", ok, wait)
	}
	// next day: the counts start again
	if ch, ok, _ := r.chooseNumber(m, func(string) time.Time { return time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC) }); !ok || ch.index != 0 {
		t.Fatalf("next day: %+v %v", ch, ok)
	}
}

func TestApplyResult(t *testing.T) {
	ten := 10
	for _, tc := range []struct {
		name   string
		res    store.CallResult
		check  func(t *testing.T, m *store.Member)
		endsAs string
	}{
		{"success ends the member", store.CallResult{Success: true}, nil, EndSuccess},
		{"next_after_sec", store.CallResult{NextAfterSec: &ten}, func(t *testing.T, m *store.Member) {
			if m.NextTryAt != now0.Add(10*time.Second).UnixMilli() {
				t.Fatalf("next try %d", m.NextTryAt)
			}
		}, ""},
		{"next_communication is added on top", store.CallResult{NextCommunication: "+380 93 000 00 00"}, func(t *testing.T, m *store.Member) {
			last := m.Communications[len(m.Communications)-1]
			if last.Number != "+380930000000" || !last.Top {
				t.Fatalf("%+v", m.Communications)
			}
		}, ""},
		{"stop a list", store.CallResult{StopCommunications: []string{"1111"}}, func(t *testing.T, m *store.Member) {
			if !m.Communications[0].Stopped || m.Communications[1].Stopped {
				t.Fatalf("%+v", m.Communications)
			}
		}, ""},
		{"stop all but next", store.CallResult{StopAll: true, NextCommunication: "2222"}, func(t *testing.T, m *store.Member) {
			if !m.Communications[0].Stopped || m.Communications[1].Stopped || !m.Communications[1].Top {
				t.Fatalf("%+v", m.Communications)
			}
		}, ""},
		{"stop all", store.CallResult{StopAll: true}, nil, EndStopped},
		{"reset retries", store.CallResult{ResetRetries: true}, func(t *testing.T, m *store.Member) {
			if m.Attempts != 0 || m.Communications[0].Attempts != 0 {
				t.Fatalf("attempts %d %d", m.Attempts, m.Communications[0].Attempts)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCampaign()
			r := newRules(c, AlwaysOpen)
			m := testMember("1111", "2222")
			m.Attempts, m.Communications[0].Attempts = 2, 2
			m.WaitingResult = "a1"
			if ignored, err := checkResult(m, tc.res); err != nil || len(ignored) > 0 {
				t.Fatal(ignored, err)
			}
			if end := r.applyResult(m, tc.res, now0); end != tc.endsAs {
				t.Fatalf("end %q, want %q", end, tc.endsAs)
			}
			if m.WaitingResult != "" {
				t.Fatal("still waiting for a result")
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
	m := testMember("1111")
	if ignored, err := checkResult(m, store.CallResult{StopCommunications: []string{"1111", "9999"}}); err != nil || len(ignored) != 1 || !strings.Contains(ignored[0], "stop_communications[1]: 9999") {
		t.Fatalf("stopping a number the member lacks: %v %v, want it ignored and said", ignored, err)
	}
	if _, err := checkResult(m, store.CallResult{StopCommunications: []string{"call me"}}); err == nil || !strings.Contains(err.Error(), "stop_communications[0]") {
		t.Fatalf("a stop that is not a number: %v", err)
	}
}

func TestRoutingAndOriginate(t *testing.T) {
	c := testCampaign()
	c.ID = "c1"
	c.Resources = []store.Resource{
		{DialledNumber: `^\+44(\d+)$`, Destinations: []store.Destination{{GwName: "uk", DialString: "0$1", Enabled: true}}},
		{DialledNumber: `^\+\d{8,11}$`, Destinations: []store.Destination{
			{GwName: "off", Order: 0, Enabled: false},
			{GwName: "second", Order: 2, DialString: "0$1", Enabled: true, CallerIDNumber: "5550001"},
			{GwName: "first", Order: 1, Enabled: true},
		}},
	}
	c.Variables = map[string]any{"campaign_var": "a,b", "shared": "campaign"}
	rt, err := newRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	if ts := rt.targets("+442071234567"); len(ts) != 1 || ts[0].Endpoint() != "sofia/gateway/uk/02071234567" {
		t.Fatalf("uk: %+v", ts)
	}
	ts := rt.targets("+38091123456")
	if len(ts) != 2 || ts[0].GwName != "first" || ts[0].Number != "+38091123456" || ts[1].Number != "0+38091123456" {
		t.Fatalf("targets %+v", ts)
	}
	if rt.targets("12345") != nil {
		t.Fatal("a number no resource matches was routed")
	}
	m := testMember("+38091123456")
	m.ID = "0000001"
	m.Variables = map[string]any{"shared": "member", "debt": 20000.0, "note": "two words"}
	got, err := originateArgs(c, m, &store.Attempt{ID: "att-1"}, ts[1], false)
	want := "{origination_uuid=att-1,dialer_campaign_id=c1,dialer_member_id=0000001,dialer_attempt_id=att-1,originate_timeout=30,ignore_early_media=true,origination_caller_id_number=5550001,dialer_broadcast_file=/m.wav,campaign_var=a\\,b,debt=20000,note='two words',shared=member}sofia/gateway/second/0+38091123456 &playback(${dialer_broadcast_file})"
	if got != want || err != nil {
		t.Fatalf("originate\n got %s (%v)\nwant %s", got, err, want)
	}
	c.Broadcast = store.Broadcast{Extension: "ivr"}
	if got, err := originateArgs(c, m, &store.Attempt{ID: "att-2"}, ts[0], true); !strings.HasSuffix(got, "sofia/gateway/first/+38091123456 ivr XML default") || err != nil {
		t.Fatalf("extension: %s (%v)", got, err)
	}
}

func TestUSCallingHours(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	for _, tc := range []struct {
		local string
		want  string // "" when a call may be made now
	}{
		{"2026-11-30 07:59", "2026-11-30 08:00"},
		{"2026-11-30 08:00", ""},
		{"2026-11-30 20:59", ""},
		{"2026-11-30 21:00", "2026-12-01 08:00"},
		{"2026-12-31 23:30", "2027-01-01 08:00"},
	} {
		local, err := time.ParseInLocation("2006-01-02 15:04", tc.local, ny)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if next := usCallingHours(local); !next.IsZero() {
			got = next.Format("2006-01-02 15:04")
		}
		if got != tc.want {
			t.Errorf("%s: next %q, want %q", tc.local, got, tc.want)
		}
	}
}

func TestParseEndRecord(t *testing.T) {
	for _, tc := range []struct {
		in                string
		ok                bool
		cause             string
		bill              int64
		answered, bridged bool
	}{
		{"NORMAL_CLEARING:5020:1796064825145537:1796064825345537", true, "NORMAL_CLEARING", 5020, true, true},
		{"NORMAL_CLEARING:5020:1796064825145537:0", true, "NORMAL_CLEARING", 5020, true, false},
		{"NORMAL_CLEARING:5020:1796064825145537", true, "NORMAL_CLEARING", 5020, true, false}, // an older dialer's record
		{"USER_BUSY:0:0:0", true, "USER_BUSY", 0, false, false},
		{"USER_BUSY:0", false, "", 0, false, false},
		{":0:0:0", false, "", 0, false, false},
		{"NORMAL_CLEARING:x:0:0", false, "", 0, false, false},
		{"A:1:2:3:4", false, "", 0, false, false},
	} {
		r, ok := parseEndRecord(tc.in)
		if ok != tc.ok || ok && (r.Cause != tc.cause || r.BillMsec != tc.bill || r.AnsweredAt.IsZero() == tc.answered || r.BridgedAt.IsZero() == tc.bridged) {
			t.Errorf("%q: %+v %v", tc.in, r, ok)
		}
	}
}

// FuzzParseEndRecord: whatever the switch's db holds, the end record's
// reader does not panic, and what it accepts reads back as written.
func FuzzParseEndRecord(f *testing.F) {
	for _, s := range []string{"NORMAL_CLEARING:5020:1796064825145537:1796064825345537", "USER_BUSY:0:0", "-ERR no reply", "", ":::", "A:-1:-2:-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := parseEndRecord(s)
		if !ok {
			return
		}
		parts := strings.Split(strings.TrimSpace(s), ":")
		bill, _ := strconv.ParseInt(parts[1], 10, 64)
		answered, _ := strconv.ParseInt(parts[2], 10, 64)
		if r.Cause != parts[0] || r.Cause == "" || r.BillMsec != bill || r.AnsweredAt.IsZero() != (answered <= 0) || r.BridgeKnown != (len(parts) == 4) {
			t.Fatalf("%q read as %+v", s, r)
		}
	})
}
