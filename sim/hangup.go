package sim

import (
	"strconv"
	"strings"

	"github.com/fsdialer/fsdialer/esl"
)

// A channel's life after the answer and its end: who is on the line,
// the hangup in the order of the captures, the hooks, the CDR variables.

// waitInSilence starts the subscriber's patience: a person who hears no one
// hangs up after it.
func (s *Switch) waitInSilence(ch *channel) {
	if ch.kind != kindSubscriber || ch.out.machine || ch.heard {
		return
	}
	s.after(ch, ch.out.patience, func() {
		if !ch.heard {
			s.hangup(ch, "NORMAL_CLEARING", false)
		}
	})
}

// hear starts the subscriber's talk time: someone is on the line.
func (s *Switch) hear(ch *channel) {
	if ch.kind != kindSubscriber || ch.out.machine || ch.heard {
		return
	}
	ch.heard = true
	s.after(ch, ch.out.talk, func() { s.hangup(ch, "NORMAL_CLEARING", false) })
}

// talkFromNow restarts a bridged subscriber's clock: whatever they heard
// before, they now talk for their talk time (a machine records for its own).
func (s *Switch) talkFromNow(ch *channel) {
	for _, t := range ch.timers {
		t.Stop()
	}
	ch.timers = nil
	if ch.kind != kindSubscriber {
		return
	}
	ch.heard = true
	s.after(ch, ch.out.talk, func() { s.hangup(ch, "NORMAL_CLEARING", false) })
}

// fail ends a call that was not answered: the order of the events and the
// BACKGROUND_JOB is the one the captures show for each kind of failure.
func (s *Switch) fail(ch *channel, cause, sipStatus string) {
	if cause != "NO_ANSWER" {
		// The far end refused: its reply brings these before the hangup.
		v := &ch.v
		if _, ok := v.get("sip_call_id"); !ok {
			v.set("sip_call_id", ch.tag("call-id"))
			v.unset("sip_local_network_addr")
			v.set("sip_local_network_addr", "127.0.0.1")
			v.set("sip_reply_host", "127.0.0.1")
			v.set("sip_reply_port", "5080")
			v.set("sip_network_ip", "127.0.0.1")
			v.set("sip_network_port", "5080")
		}
		v.set("sip_hangup_disposition", "recv_refuse")
		v.set("sip_invite_failure_status", sipStatus)
		v.set("sip_invite_failure_phrase", sipPhrases[sipStatus])
	}
	s.hangup(ch, cause, false)
}

var sipPhrases = map[string]string{
	"486": "Busy Here", "603": "Decline", "404": "Not Found", "503": "Service Unavailable", "487": "Request Terminated",
}

// hangup ends a channel and, if it is bridged, the other leg; local means
// the switch hung up (uuid_kill, an application) rather than the far end.
func (s *Switch) hangup(ch *channel, cause string, local bool) {
	if ch.hungUp {
		return
	}
	other := ch.bridge
	if other != nil && !other.hungUp {
		if on, _ := other.v.get("park_after_bridge"); switchTrue(on) {
			s.hangupParkingOther(ch, other, cause, local)
			return
		}
		s.hangupBridged(ch, other, cause, local)
		return
	}
	s.hangupLeg(ch, cause, local)
	if ch.result != nil && len(ch.result) == 0 && !ch.answered() && !ch.earlyAnswered {
		// originate is still waiting: answer it in the captured order.
		out := "-ERR " + cause + "\n"
		if cause == "NO_ANSWER" || cause == "ORIGINATOR_CANCEL" {
			ch.result <- result{out: out, then: s.locked(func() { s.emitComplete(ch); s.emitDestroy(ch) })}
			return
		}
		s.emitComplete(ch)
		ch.result <- result{out: out, then: s.locked(func() { s.emitDestroy(ch) })}
		return
	}
	s.emitComplete(ch)
	s.emitDestroy(ch)
}

// endSocket closes the outbound connection of a call that is over, once
// its last events are out; s.mu is held.
func (s *Switch) endSocket(ch *channel) {
	if ch.socketConn {
		s.outbox = append(s.outbox, outItem{endSession: ch.uuid})
	}
}

// hangupBridged ends a bridged call in the order of the captures: the leg
// that hung up first, then the other, their completes and destroys around
// the UNBRIDGE.
func (s *Switch) hangupBridged(first, second *channel, cause string, local bool) {
	role := "originator"
	if first.otherType == "originator" {
		role = "originatee"
	}
	first.v.set("bridge_to", second.uuid)
	first.v.set("last_bridge_to", second.uuid)
	first.v.set("last_sent_callee_id_name", second.cidNum)
	first.v.set("last_sent_callee_id_number", second.cidNum)
	first.v.set("last_bridge_role", role)
	s.hangupLeg(first, cause, local)
	second.v.set("last_bridge_to", first.uuid)
	second.v.set("last_sent_callee_id_name", "Outbound Call")
	second.v.set("last_sent_callee_id_number", first.dest)
	second.v.set("sip_hangup_phrase", "OK")
	second.v.set("last_bridge_hangup_cause", cause)
	second.v.set("last_bridge_proto_specific_hangup_cause", "sip:200")
	s.hangupLeg(second, "NORMAL_CLEARING", true)
	s.emitComplete(second)
	first.v.unset("bridge_to")
	if !local {
		first.v.set("sip_hangup_disposition", "recv_bye")
	}
	first.v.set("bridge_hangup_cause", cause)
	s.emit("CHANNEL_UNBRIDGE", first)
	second.v.set("bridge_hangup_cause", cause)
	s.emitDestroy(second)
	s.emitComplete(first)
	s.emitDestroy(first)
}

// hangupParkingOther ends a bridged leg whose other leg has
// park_after_bridge set: the other leg's bridge ends and parks it
// (switch_ivr_bridge.c: audio_bridge_on_exchange_media for the peer of a
// uuid_bridge, switch_ivr_multi_threaded_bridge for its originator, both
// switch_ivr_park_session; then switch_ivr_park fires CHANNEL_PARK from
// the CS_PARK state, with no application running). CHANNEL_UNBRIDGE is
// the originator's, as in the capture of a bridged hangup. The parked leg
// keeps park_after_bridge (switch_ivr_park clears it only with a
// park_timeout), so it parks again after its next bridge. Which of the two
// threads fires first is a race; the peer's park comes before the
// originator's unbridge here, as the peer's hangup did in the capture.
func (s *Switch) hangupParkingOther(gone, stays *channel, cause string, local bool) {
	originator := gone
	if stays.otherType == "originatee" {
		originator = stays
	}
	gone.v.set("last_bridge_to", stays.uuid)
	s.hangupLeg(gone, cause, local)
	stays.v.set("last_bridge_to", gone.uuid)
	stays.v.set("last_bridge_hangup_cause", cause)
	stays.v.set("bridge_hangup_cause", cause)
	gone.v.set("bridge_hangup_cause", cause)
	if originator == stays { // its own thread: the unbridge, then the park
		s.emit("CHANNEL_UNBRIDGE", stays)
	}
	for _, name := range []string{"bridge_channel", "bridge_uuid", "signal_bond"} {
		stays.v.unset(name)
	}
	stays.bridge, stays.otherType, stays.logicalIn = nil, "", false
	stays.state, stays.stateNum = "CS_PARK", 6
	stays.parked = true
	s.emit("CHANNEL_PARK", stays)
	if originator == gone {
		s.emit("CHANNEL_UNBRIDGE", gone)
	}
	gone.bridge = nil
	s.emitComplete(gone)
	s.emitDestroy(gone)
}

// hangupLeg fires CHANNEL_HANGUP and ends the running application.
func (s *Switch) hangupLeg(ch *channel, cause string, local bool) {
	ch.stop()
	now := s.clock.Now()
	ch.hungUp, ch.cause, ch.hangupAt, ch.answerState, ch.stateNum = true, cause, now, "hangup", 10
	if ch.state == "CS_INIT" {
		ch.state = "CS_CONSUME_MEDIA"
	}
	ch.v.unset("current_loop")
	ch.v.unset("total_loops")
	if st, ok := ch.v.get("sip_invite_failure_status"); ok {
		ch.v.set("sip_term_status", st)
		ch.v.set("proto_specific_hangup_cause", "sip:"+st)
		ch.v.set("sip_term_cause", strconv.Itoa(esl.Q850(cause)))
	} else if ch.answered() && !local {
		ch.v.set("sip_term_status", "200")
		ch.v.set("proto_specific_hangup_cause", "sip:200")
		ch.v.set("sip_term_cause", "16")
	}
	s.emit("CHANNEL_HANGUP", ch)
	if ch.answered() && !local && ch.bridge == nil {
		ch.v.set("sip_hangup_disposition", "recv_bye")
	}
	if ch.recording != "" {
		s.emit("RECORD_STOP", ch, kv{"Record-File-Path", ch.recording})
		ch.recording = ""
	}
	if ch.parked || ch.current != nil {
		s.stopCurrent(ch)
	}
}

func (s *Switch) emitComplete(ch *channel) {
	ch.state, ch.callState, ch.stateNum = "CS_REPORTING", "HANGUP", 11
	ch.hangupStamped = true
	s.setHangupCompleteVars(ch, ch.hangupAt)
	if _, ok := ch.v.get("sip_invite_failure_status"); !ok && ch.cause == "NO_ANSWER" && ch.kind != kindLoopback {
		// The CANCEL's 487 is the INVITE's final answer.
		ch.v.set("sip_invite_failure_status", "487")
		ch.v.set("sip_invite_failure_phrase", "Request Terminated")
	}
	if _, ok := ch.v.get("sip_hangup_disposition"); !ok {
		if ch.answered() {
			ch.v.set("sip_hangup_disposition", "send_bye")
		} else {
			ch.v.set("sip_hangup_disposition", "send_cancel")
		}
	}
	// switch_core_session_hangup_state runs api_hangup_hook once the
	// timestamps are set; the reporting state runs api_reporting_hook
	// right before it fires CHANNEL_HANGUP_COMPLETE.
	s.runHook(ch, "api_hangup_hook")
	s.runHook(ch, "api_reporting_hook")
	s.emit("CHANNEL_HANGUP_COMPLETE", ch)
}

// runHook is api_hook of switch_core_state_machine.c: the variable is
// "cmd::args" (the first ':' doubled) or "cmd args", the args expanded
// from the channel's variables and headers, the command run as an api
// command with no session; its output only goes to the debug log (and
// the ledger). s.mu is held: commands that block (originate, msleep) are
// not simulated in a hook.
func (s *Switch) runHook(ch *channel, name string) {
	hook, _ := ch.v.get(name)
	if hook == "" {
		return
	}
	cmd, arg := hook, ""
	if i := strings.IndexByte(hook, ':'); i >= 0 && i+1 < len(hook) && hook[i+1] == ':' {
		cmd, arg = hook[:i], hook[i+2:]
	} else if i := strings.IndexByte(hook, ' '); i >= 0 {
		cmd, arg = hook[:i], hook[i+1:]
	}
	expanded := s.expandEvent(ch, arg)
	out, found := s.apiLocked(cmd, expanded)
	if !found {
		s.log(logErr, "fsim: "+name+" runs "+cmd+", which a hook cannot run here")
	}
	s.log(logDebug, "switch_core_state_machine.c Hangup Command with no Session "+cmd+"("+expanded+"):\n"+out)
	s.rec.note(ledgerEntry{Kind: "hook", At: s.clock.Now(), UUID: ch.uuid, Variable: name, Command: strings.TrimSpace(cmd + " " + expanded), Output: out})
}

// expandEvent expands as switch_event_expand_headers does over the event
// api_hook builds: the channel's variables by name, then its event
// headers (Unique-ID, Caller-Destination-Number, variable_*...).
func (s *Switch) expandEvent(ch *channel, in string) string {
	var ev *esl.Event
	x := expander{
		lookup: func(name string) (string, bool) {
			if v, ok := ch.v.get(name); ok {
				return v, true
			}
			if ev == nil {
				b := esl.NewEvent("CHANNEL_DATA")
				s.addChannel(b, ch)
				ev = b.Event()
			}
			v := ev.Get(name)
			return v, v != ""
		},
		api: s.apiExpansion,
	}
	return x.expand(in, 0)
}

func (s *Switch) emitDestroy(ch *channel) {
	ch.stateNum = 12
	s.emit("CHANNEL_DESTROY", ch)
	s.endSocket(ch)
	if s.channels[ch.uuid] == ch {
		delete(s.channels, ch.uuid)
		if ch.gateway != "" {
			s.gwActive[ch.gateway]--
		}
	}
}
