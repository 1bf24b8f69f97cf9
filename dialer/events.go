package dialer

import (
	"strconv"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/esl"
)

// Events returns the channel events the engine needs from every switch.
func Events() []string {
	return []string{"CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER", "CHANNEL_BRIDGE",
		"CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "BACKGROUND_JOB"}
}

// legOf returns the channel an event is about: its Unique-ID, or for a
// job result the job id, which is the uuid of the leg it originated.
func legOf(ev *esl.Event) string {
	if id := ev.UniqueID(); id != "" {
		return id
	}
	return ev.Get("Job-UUID")
}

var inputKinds = map[string]attempt.Kind{
	"CHANNEL_CREATE": attempt.Create, "CHANNEL_PROGRESS": attempt.Progress, "CHANNEL_PROGRESS_MEDIA": attempt.Progress,
	"CHANNEL_ANSWER": attempt.Answer, "CHANNEL_BRIDGE": attempt.BridgeEvent,
	"CHANNEL_EXECUTE_COMPLETE": attempt.ExecuteComplete, "CHANNEL_HANGUP": attempt.Hangup,
	"CHANNEL_HANGUP_COMPLETE": attempt.HangupComplete, "CHANNEL_DESTROY": attempt.Destroy, "BACKGROUND_JOB": attempt.JobResult,
}

// inputOf turns a switch event into an input of the attempt machine; ok is
// false for events the machine does not take.
func inputOf(ev *esl.Event) (in attempt.Input, ok bool) {
	in.Kind, ok = inputKinds[ev.Name()]
	if !ok {
		return in, false
	}
	in.Leg = legOf(ev)
	if us, err := strconv.ParseInt(ev.Get("Event-Date-Timestamp"), 10, 64); err == nil && us > 0 {
		in.At = time.UnixMicro(us)
	}
	switch in.Kind {
	case attempt.ExecuteComplete:
		in.App, in.AMD = ev.Get("Application"), ev.Var("amd_result")
	case attempt.Hangup:
		in.Cause = ev.Get("Hangup-Cause")
	case attempt.HangupComplete, attempt.Destroy:
		in.Cause = ev.Get("Hangup-Cause")
		in.BillMsec, _ = strconv.ParseInt(ev.Var("billmsec"), 10, 64)
		if us, err := strconv.ParseInt(ev.Var("answer_uepoch"), 10, 64); err == nil && us > 0 {
			in.AnsweredAt = time.UnixMicro(us)
		}
		if b := ev.Var("bridge_uepoch"); b != "" {
			in.BridgeKnown = true
			if us, err := strconv.ParseInt(b, 10, 64); err == nil && us > 0 {
				in.BridgedAt = time.UnixMicro(us) // its CHANNEL_BRIDGE may have been lost in a cut
			}
		}
	case attempt.JobResult:
		in.Cause = jobCause(ev.Body())
	}
	return in, true
}

// jobCause is the cause of a failed originate ("-ERR USER_BUSY"), "" for
// one that succeeded ("+OK <uuid>").
func jobCause(body string) string {
	rest, failed := strings.CutPrefix(strings.TrimSpace(body), "-ERR")
	if !failed {
		return ""
	}
	if cause := strings.TrimSpace(rest); cause != "" {
		return cause
	}
	return "NORMAL_TEMPORARY_FAILURE"
}

// endRecordRealm is the realm of mod_db where the switch keeps each call's
// end (see endRecordHook).
const endRecordRealm = "fsdialer"

// endRecordHook makes the switch record a channel's end itself, whether
// or not a dialer listens when it ends, under the channel's uuid (the
// attempt id for a member's leg): cause, billmsec, and the answer and the
// bridge times in microseconds (0 when none: bridge_uepoch is one of the
// channel's CDR times, set by switch_channel.c), read back with "db
// select". Verified on FreeSWITCH 1.10.12 with the first three
// (docs/architecture.md); it needs origination_nested_vars=true on the
// originate, or the switch refuses a value holding "${".
const endRecordHook = "db::insert/" + endRecordRealm + "/${uuid}/${hangup_cause}:${billmsec}:${answer_uepoch}:${bridge_uepoch}"

// parseEndRecord reads "CAUSE:BILLMSEC:ANSWER_UEPOCH[:BRIDGE_UEPOCH]" (a
// record of an older dialer has no bridge time).
func parseEndRecord(s string) (*attempt.EndRecord, bool) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) < 3 || len(parts) > 4 || parts[0] == "" {
		return nil, false
	}
	times := make([]int64, 3)
	for i, p := range parts[1:] {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, false
		}
		times[i] = n
	}
	r := &attempt.EndRecord{Cause: parts[0], BillMsec: times[0], BridgeKnown: len(parts) == 4}
	if times[1] > 0 {
		r.AnsweredAt = time.UnixMicro(times[1])
	}
	if times[2] > 0 {
		r.BridgedAt = time.UnixMicro(times[2])
	}
	return r, true
}
