package sim

import (
	"strconv"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/esl"
)

// Placing a call: the originate command, the channel it makes (or the
// failure before any), and the ringing that ends in an answer or a
// failure.

// result is what originate answers, and what to fire once that is out.
type result struct {
	out  string
	then func()
}

// originate places a call and blocks until it is answered or fails, like
// mod_commands' originate.
func (s *Switch) originate(args string) (string, func()) {
	req, usage := parseOriginate(args)
	if usage != "" {
		return usage, nil
	}
	if req.undefExten {
		// originate_function asserts the extension is there: the switch
		// aborts. The simulator cannot die for a test, so it says so.
		s.log(logCrit, "originate: undef as the extension: FreeSWITCH aborts here (switch_assert(exten) in originate_function)")
		return "-ERR fsim: FreeSWITCH aborts on an undef extension\n", nil
	}
	s.mu.Lock()
	ch, failure := s.place(req)
	s.unlock()
	if failure != "" {
		return failure, nil
	}
	r := <-ch.result
	return r.out, r.then
}

// place creates the channel and schedules its life, or returns the -ERR of a
// call that fails before a channel exists; s.mu is held.
func (s *Switch) place(req *originateReq) (*channel, string) {
	if req.failure != "" {
		s.log(logErr, "originate: Parse Error! (switch_ivr_originate)")
		return nil, req.failure
	}
	if req.endpoints > 1 {
		s.log(logErr, "originate: fsim places one endpoint; dial strings with ',' '|' or ':_:' are not simulated")
		return nil, "-ERR CHAN_NOT_IMPLEMENTED\n"
	}
	now := s.clock.Now()
	ch := &channel{
		uuid: esl.NewUUID(), cidName: "", cidNum: "0000000000", context: "default",
		profileIndex: 1, state: "CS_INIT", callState: "DOWN", stateNum: 2, answerState: "ringing",
		created: now, result: make(chan result, 1), endpoint: req.chanType + "/" + req.chanData,
	}
	if v, ok := req.get("origination_caller_id_name"); ok {
		ch.cidName = v
	}
	if v, ok := req.get("origination_caller_id_number"); ok {
		ch.cidNum = v
	}
	if req.isApp {
		ch.app, ch.appArg, ch.isApp = req.app, req.appArg, true
	} else {
		ch.exten, ch.context = req.exten, req.context
	}
	useUUID, hasUUID := req.get("origination_uuid")
	hasUUID = hasUUID && useUUID != ""
	if hasUUID {
		ch.uuid = useUUID
	}
	// request is switch_core_session_request_uuid: a uuid in use, or the
	// sessions-per-second budget spent, and no session is made.
	request := func() string {
		if _, dup := s.channels[ch.uuid]; dup && hasUUID {
			s.log(logCrit, "switch_core_session.c Duplicate UUID!")
			return "-ERR DESTINATION_OUT_OF_ORDER\n"
		}
		if !s.takeSession(now) {
			return "-ERR DESTINATION_OUT_OF_ORDER\n"
		}
		return ""
	}
	data := req.chanData
	key := req.chanType + "/" + data
	switch req.chanType {
	case "error":
		return nil, "-ERR " + strings.ToUpper(data) + "\n"
	case "sofia":
		if data == "" {
			data = "service" // an empty destination_number, as switch_ivr_originate fills it
		}
		if fail := request(); fail != "" {
			return nil, fail
		}
		data, _, _ = strings.Cut(data, "^")
		if rest, ok := cutPrefixFold(data, "gateway/"); ok {
			gwName, dest, ok := strings.Cut(rest, "/")
			if !ok {
				s.destroyStillborn(ch, "INVALID_URL")
				return nil, "-ERR INVALID_URL\n"
			}
			dest, _, _ = strings.Cut(dest, ";")
			ch.dest, ch.gateway = dest, gwName
			gw := s.sc.gateway(gwName)
			if gw == nil {
				s.destroyStillborn(ch, "INVALID_GATEWAY")
				return nil, "-ERR INVALID_GATEWAY\n"
			}
			if gw.Down {
				s.destroyStillborn(ch, "GATEWAY_DOWN")
				return nil, "-ERR GATEWAY_DOWN\n"
			}
			ch.profile = "external"
		} else {
			profile, dest, ok := strings.Cut(data, "/")
			if !ok {
				s.destroyStillborn(ch, "INVALID_URL")
				return nil, "-ERR INVALID_URL\n"
			}
			ch.dest, _, _ = strings.Cut(dest, "@")
			if !s.sc.hasProfile(profile) {
				s.destroyStillborn(ch, "INVALID_PROFILE")
				return nil, "-ERR INVALID_PROFILE\n"
			}
			ch.profile = profile
		}
		ch.kind = kindSubscriber
		ch.name = "sofia/" + ch.profile + "/" + ch.dest
		key = ch.dest
		ch.out = s.sc.drawSubscriber(ch.dest, s.attempts[key])
		if ch.gateway != "" {
			if cause := s.gatewayAdmits(ch.gateway, now); cause != "" {
				ch.out = outcome{cause: cause, sipStatus: "503", delay: ch.out.setup}
			}
			s.gwActive[ch.gateway]++
		}
	case "user":
		ext, _, _ := strings.Cut(data, "@")
		a := s.sc.agent(ext)
		switch {
		case a == nil:
			return nil, "-ERR SUBSCRIBER_ABSENT\n"
		case a.Unregistered:
			return nil, "-ERR USER_NOT_REGISTERED\n"
		}
		if fail := request(); fail != "" {
			return nil, fail
		}
		ch.dest = ext
		ch.kind, ch.profile = kindAgent, "internal"
		ch.name = "sofia/internal/" + ext + "@127.0.0.1"
		ch.out = s.sc.drawAgent(a, s.attempts[key])
	case "loopback":
		if fail := request(); fail != "" {
			return nil, fail
		}
		if _, ok := s.sc.Extensions[data]; !ok {
			return nil, "-ERR NO_ROUTE_DESTINATION\n"
		}
		ch.dest = data
		ch.kind, ch.profile = kindLoopback, "loopback"
		ch.name = "loopback/" + data + "-a"
		ch.exten, ch.app, ch.isApp = data, "", false
	default:
		return nil, "-ERR CHAN_NOT_IMPLEMENTED\n"
	}
	s.attempts[key]++
	s.sessions++
	ch.sessionID = s.sessions
	s.channels[ch.uuid] = ch
	s.peak = max(s.peak, len(s.channels))
	s.setCreateVars(ch, req)
	s.emit("CHANNEL_CREATE", ch)
	s.progress(ch, req)
	return ch, ""
}

// takeSession is the throttle of switch_core_session_request_uuid: the
// timer thread resets the budget to sessions-per-second at each second of
// uptime, every request takes one first, and a request that leaves it at
// 0 or below fails ("Throttle Error!"): so 29 of 30 get through.
func (s *Switch) takeSession(now time.Time) bool {
	limit := s.sc.sessionsPerSecond()
	if limit <= 0 {
		return true
	}
	if w := int64(now.Sub(s.started) / time.Second); w != s.spsWindow {
		s.spsLast = limit - s.spsLeft
		if s.spsWindow+1 != w {
			s.spsLast = 0 // a quiet second in between
		}
		s.spsWindow, s.spsLeft = w, limit
	}
	s.spsLeft--
	s.spsPeak = max(s.spsPeak, limit-s.spsLeft)
	if s.spsLeft <= 0 {
		s.log(logCrit, "switch_core_session.c Throttle Error! "+strconv.Itoa(len(s.channels)))
		return false
	}
	return true
}

// destroyStillborn fires the lone CHANNEL_DESTROY of a call refused before
// it reached the network (unknown gateway), as FreeSWITCH does.
func (s *Switch) destroyStillborn(ch *channel, cause string) {
	ch.state, ch.stateNum, ch.name = "CS_NONE", 0, "N/A"
	s.sessions++
	ch.sessionID = s.sessions
	ch.v.set("direction", "outbound")
	ch.v.set("is_outbound", "true")
	ch.v.set("uuid", ch.uuid)
	ch.v.set("call_uuid", ch.uuid)
	ch.v.set("session_id", strconv.Itoa(ch.sessionID))
	b := s.event("CHANNEL_DESTROY")
	b.Add("Channel-State", ch.state).Add("Channel-Call-State", ch.callState).
		Add("Channel-State-Number", "0").Add("Channel-Name", ch.name).
		Add("Unique-ID", ch.uuid).Add("Call-Direction", "outbound").
		Add("Presence-Call-Direction", "outbound").Add("Channel-HIT-Dialplan", "false").
		Add("Channel-Call-UUID", ch.uuid).Add("Answer-State", "ringing")
	for i, h := range ch.v.headers {
		b.Add(h, ch.v.values[i])
	}
	s.outbox = append(s.outbox, outItem{event: b.Event()})
	s.rec.note(ledgerEntry{Kind: "stillborn", At: s.clock.Now(), UUID: ch.uuid, Endpoint: ch.endpoint, Destination: ch.dest, Gateway: ch.gateway, Cause: cause})
}

// gatewayAdmits applies a gateway's capacity and calls-per-second limit.
func (s *Switch) gatewayAdmits(name string, now time.Time) string {
	gw := s.sc.gateway(name)
	recent := s.gwRecent[name]
	for len(recent) > 0 && now.Sub(recent[0]) >= time.Second {
		recent = recent[1:]
	}
	defer func() { s.gwRecent[name] = recent }()
	if gw.Capacity > 0 && s.gwActive[name] >= gw.Capacity {
		return "NORMAL_CIRCUIT_CONGESTION"
	}
	if gw.CallsPerSecond > 0 && float64(len(recent)) >= gw.CallsPerSecond {
		return "NORMAL_CIRCUIT_CONGESTION"
	}
	recent = append(recent, now)
	return ""
}

// progress schedules a placed call: ringing, then answer or failure.
func (s *Switch) progress(ch *channel, req *originateReq) {
	o := ch.out
	if ch.kind == kindLoopback {
		s.answer(ch)
		return
	}
	if o.cause != "" && o.cause != "NO_ANSWER" {
		s.after(ch, o.delay, func() { s.fail(ch, o.cause, o.sipStatus) })
		return
	}
	if o.earlyMedia {
		ch.progressMediaAt = s.clock.Now()
		ch.state, ch.callState, ch.stateNum, ch.answerState = "CS_CONSUME_MEDIA", "EARLY", 7, "early"
		s.setProgressVars(ch)
		s.emit("CHANNEL_PROGRESS_MEDIA", ch)
		if !req.ignoreEM {
			// Without ignore_early_media originate "succeeds" on 183.
			ch.earlyAnswered = true
			ch.result <- result{out: "+OK " + ch.uuid + "\n", then: func() {}}
		}
	} else {
		ch.progressAt = s.clock.Now()
		ch.state, ch.callState, ch.stateNum = "CS_CONSUME_MEDIA", "DOWN", 7
		s.setProgressVars(ch)
		s.emit("CHANNEL_PROGRESS", ch)
	}
	if o.cause == "" && o.delay < req.timeout {
		s.after(ch, o.delay, func() { s.answer(ch) })
		return
	}
	s.after(ch, req.timeout, func() {
		ch.callState = "RINGING"
		s.fail(ch, "NO_ANSWER", "487")
	})
}

// answer marks the channel answered and lets originate return.
func (s *Switch) answer(ch *channel) {
	now := s.clock.Now()
	ch.answeredAt = now
	if ch.progressAt.IsZero() && ch.progressMediaAt.IsZero() {
		ch.progressAt = now
		s.setProgressVars(ch)
	}
	ch.state, ch.callState, ch.stateNum, ch.answerState = "CS_CONSUME_MEDIA", "RINGING", 7, "answered"
	s.setAnswerVars(ch)
	s.emit("CHANNEL_ANSWER", ch)
	if ch.kind == kindSubscriber {
		o := ch.out
		if o.machine {
			s.after(ch, o.talk, func() { s.hangup(ch, "NORMAL_CLEARING", false) })
		}
	}
	start := func() {
		s.mu.Lock()
		defer s.unlock()
		if !ch.hungUp {
			s.startApps(ch)
		}
	}
	if ch.earlyAnswered {
		s.startApps(ch)
		return
	}
	ch.result <- result{out: "+OK " + ch.uuid + "\n", then: start}
}
