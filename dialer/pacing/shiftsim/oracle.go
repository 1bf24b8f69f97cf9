package shiftsim

import (
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
)

// The clairvoyant bound (pacing.md baseline 6): it knows every member's
// draws and every agent's shift, calls only the members who will answer
// live (and wait long enough for AMD's verdict), and times each call so
// that the answer lands when an agent frees up: when a call is bridged
// the agent's next free moment is known (talk and wrap-up), and the next
// live member is called that member's ring (and AMD) time before it. Its
// answers still go through the attempt machine, the agent order and the
// connect threshold like everyone else's. Only the lines can hold it back.

// planFor times a call to reach ag when they are free at or after free.
func (s *sim) planFor(ag *agent, free time.Duration) {
	free, ok := s.freeAt(ag, free)
	if !ok {
		return
	}
	for {
		idx := s.next
		s.next++
		m := s.sc.member(idx)
		lead := m.ring + m.amd
		at := max(free-lead, s.now)
		if at >= s.end {
			return
		}
		answered, machine := s.sc.answers(m, at)
		if !answered || machine || m.patience <= m.amd+seconds(s.sc.BridgeSeconds) {
			s.res.Skipped++ // a lead it will not spend
			continue
		}
		ag.planned++
		s.push(event{at: at, kind: evPlan, ag: ag, idx: idx})
		return
	}
}

// freeAt is when an agent free at t can take a call: after a break that
// falls due by then; false when their shift is over by then.
func (s *sim) freeAt(ag *agent, t time.Duration) (time.Duration, bool) {
	if s.sc.BreakEveryHours > 0 && (ag.breakDue || t >= ag.nextBreak) {
		t += time.Duration(s.sc.BreakMinutes * float64(time.Minute))
	}
	return t, t < s.end && ag.idx < s.sc.teamAt(t)
}

// oracleDial places a planned call, or queues it for a line.
func (s *sim) oracleDial(idx int, ag *agent) {
	if s.now >= s.end {
		if ag != nil {
			ag.planned--
		}
		return
	}
	if len(s.active) >= s.lines {
		s.oracleQ = append(s.oracleQ, idx)
		s.intended[idx] = ag
		return
	}
	if ag == nil {
		ag = s.intended[idx]
		delete(s.intended, idx)
	}
	s.dial(idx, nil, ag)
}

// matchIntended gives each live answer waiting the agent it was timed
// for, waiting for them while they are on their way to being free (a
// wrap-up ending this moment); one whose agent is gone takes the best
// ready agent.
func (s *sim) matchIntended() {
	keep := s.waiting[:0]
	for i := 0; i < len(s.waiting); i++ {
		c := s.waiting[i]
		if c.a.State != attempt.WaitingAgent || c.a.Agent != nil || c.a.Member.Ended {
			continue
		}
		ag := c.intended
		switch {
		case ag != nil && ag.state == ready:
		case ag != nil && ag.onShift && ag.state != offline && ag.state != paused:
			keep = append(keep, c)
			continue
		default:
			if ag = s.best(nil); ag == nil {
				keep = append(keep, c)
				continue
			}
		}
		if c.intended != nil {
			c.intended.planned--
		}
		s.found(c, ag)
	}
	clear(s.waiting[len(keep):])
	s.waiting = keep
}
