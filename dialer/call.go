package dialer

import (
	"strconv"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/store"
)

// phase is how far a call has come. Events only move it forward, so a late
// or repeated event never takes a call back.
type phase int

const (
	phaseSent     phase = iota // bgapi originate written
	phaseCreated               // CHANNEL_CREATE
	phaseRinging               // CHANNEL_PROGRESS(_MEDIA)
	phaseAnswered              // CHANNEL_ANSWER
	phaseHungUp                // CHANNEL_HANGUP
	phaseDone                  // classified
)

// call is one attempt in flight.
type call struct {
	attempt *store.Attempt
	token   string        // the member's lease
	member  *store.Member // as claimed (its version is the one to write over)
	choice  choice
	node    string
	release func() // the node's line
	slot    string // gateway whose slot it holds, "" none

	phase      phase
	cause      string
	answered   bool
	answeredAt time.Time
	billSec    int
	amd        string
	recording  string

	sentAt    time.Time // engine clock
	lastEvent time.Time // engine clock
	suspended bool      // its node is disconnected: no timeouts
}

// eventTime is when the switch fired an event (Event-Date-Timestamp, µs).
func eventTime(ev *esl.Event, fallback time.Time) time.Time {
	us, err := strconv.ParseInt(ev.Get("Event-Date-Timestamp"), 10, 64)
	if err != nil || us <= 0 {
		return fallback
	}
	return time.UnixMicro(us)
}

// advance moves the call to p; false if it is there or beyond already.
func (c *call) advance(p phase) bool {
	if p <= c.phase {
		return false
	}
	c.phase = p
	return true
}

// apply takes one event; it returns true when the call is over and must be
// classified.
func (c *call) apply(ev *esl.Event, now time.Time) (over bool, answeredNow bool) {
	c.lastEvent = now
	switch ev.Name() {
	case "CHANNEL_CREATE":
		c.advance(phaseCreated)
	case "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA":
		c.advance(phaseRinging)
	case "CHANNEL_ANSWER":
		if c.advance(phaseAnswered) {
			c.answered, c.answeredAt = true, eventTime(ev, now)
			return false, true
		}
	case "CHANNEL_EXECUTE_COMPLETE":
		if ev.Get("Application") == "amd" {
			c.amd = ev.Var("amd_result")
		}
	case "CHANNEL_HANGUP":
		if c.advance(phaseHungUp) {
			c.cause = ev.Get("Hangup-Cause")
		}
	case "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY":
		if c.phase == phaseDone {
			return false, false
		}
		if cause := ev.Get("Hangup-Cause"); cause != "" {
			c.cause = cause
		}
		if bill, err := strconv.Atoi(ev.Var("billsec")); err == nil {
			c.billSec = bill
		}
		if ans := ev.Var("answer_epoch"); ans != "" && ans != "0" {
			c.answered = true
		}
		return true, false
	case "BACKGROUND_JOB":
		body := strings.TrimSpace(ev.Body())
		// Failed before any channel existed: the job's -ERR is all there is.
		if rest, failed := strings.CutPrefix(body, "-ERR"); failed && c.phase == phaseSent {
			c.cause = strings.TrimSpace(rest)
			if c.cause == "" {
				c.cause = "NORMAL_TEMPORARY_FAILURE"
			}
			return true, false
		}
	}
	return false, false
}

// outcome is the call's result for the rules.
func (c *call) outcome(now time.Time) outcome {
	cause := c.cause
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	return outcome{Cause: cause, Answered: c.answered, BillSec: c.billSec, AnsweredAt: c.answeredAt, EndedAt: now, AMD: c.amd, Recording: c.recording}
}
