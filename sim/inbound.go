package sim

import (
	"context"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/esl"
)

// Inbound calls: a caller dials in, and the switch runs the dialplan
// fsdialer ships (deploy/dialplan-inbound.xml):
//
//	set socket_resume=true
//	socket HOST:PORT|HOST:PORT async full
//	transfer FALLBACK
//
// The socket application is mod_event_socket's socket_function: it tries
// each host in turn and, when none accepts, logs "Socket Error!" and
// returns, so the dialplan goes on to the fallback. Connected, it parks
// the call under the program's control until the program closes the
// connection; then, unless the call was bridged or transferred away or
// hung up meanwhile, socket_resume sends it on to the fallback too
// (mod_event_socket.c: socket_function, listener_run's end).

// InboundEndpoint is the ledger's Endpoint of a call that came in.
const InboundEndpoint = "inbound"

// InboundSpec is the callers who dial in.
type InboundSpec struct {
	// Socket is the socket application's hosts, "host:port|host:port".
	Socket string `yaml:"socket" json:"socket"`
	// Callers are the caller id numbers of generated calls, in turn.
	Callers []string `yaml:"callers" json:"callers"`
	// Rate is generated calls per minute of simulated time (Poisson
	// arrivals); 0 generates none (Switch.Inbound places one).
	Rate float64 `yaml:"rate" json:"rate"`
	// Count bounds the generated calls (0: no bound).
	Count int `yaml:"count" json:"count"`
	// Destination is the number they dial (default 5000).
	Destination string `yaml:"destination" json:"destination"`
	// Patience is how long a caller waits for a person before hanging up
	// (default 60 s); Talk how long they talk once someone took the call
	// (default 90 s).
	Patience Dist `yaml:"patience" json:"patience"`
	Talk     Dist `yaml:"talk" json:"talk"`
	// Fallback is the extension the dialplan transfers to after the
	// socket (default "fallback"; it must be in extensions).
	Fallback string `yaml:"fallback" json:"fallback"`
}

var (
	defaultInboundPatience = Dist{Kind: "uniform", Mean: 60, Spread: 20}
	defaultInboundTalk     = Dist{Kind: "lognormal", Mean: 90, Spread: 60, Min: 5}
)

func (in *InboundSpec) prepare() error {
	if in.Rate < 0 || math.IsNaN(in.Rate) || math.IsInf(in.Rate, 0) {
		return fmt.Errorf("inbound.rate: %g must be a number of calls per minute, 0 or more", in.Rate)
	}
	if in.Count < 0 {
		return fmt.Errorf("inbound.count: %d must not be negative", in.Count)
	}
	if in.Rate > 0 && len(in.Callers) == 0 {
		return fmt.Errorf("inbound.callers: generated calls (rate %g) need caller id numbers", in.Rate)
	}
	if in.Socket == "" {
		return fmt.Errorf("inbound.socket: missing (host:port of the dialers, separated by |)")
	}
	for i, h := range strings.Split(in.Socket, "|") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return fmt.Errorf("inbound.socket: host %d %q: %v", i+1, h, err)
		}
	}
	for field, d := range map[string]*Dist{"patience": &in.Patience, "talk": &in.Talk} {
		if err := d.validate("inbound." + field); err != nil {
			return err
		}
	}
	in.Patience = orDist(in.Patience, defaultInboundPatience)
	in.Talk = orDist(in.Talk, defaultInboundTalk)
	if in.Destination == "" {
		in.Destination = "5000"
	}
	if in.Fallback == "" {
		in.Fallback = "fallback"
	}
	return nil
}

// Inbound places a call from cid to the switch, which runs the inbound
// dialplan on it, and returns its uuid. The scenario must have an
// inbound section.
func (s *Switch) Inbound(cid string) (string, error) {
	spec := s.sc.Inbound
	if spec == nil {
		return "", fmt.Errorf("inbound call from %s: the scenario has no inbound section", cid)
	}
	s.mu.Lock()
	defer s.unlock()
	now := s.clock.Now()
	key := "inbound:" + cid
	r := s.sc.rng(key, s.attempts[key])
	s.attempts[key]++
	s.sessions++
	ch := &channel{
		uuid: esl.NewUUID(), kind: kindSubscriber, inbound: true, profile: "external",
		dest: spec.Destination, cidName: cid, cidNum: cid, context: "public",
		profileIndex: 1, state: "CS_INIT", callState: "DOWN", stateNum: 2, answerState: "ringing",
		created: now, endpoint: InboundEndpoint, sessionID: s.sessions, hitDialplan: true,
		out: outcome{talk: spec.Talk.Draw(r), patience: spec.Patience.Draw(r)},
	}
	ch.name = "sofia/external/" + cid + "@127.0.0.1"
	s.channels[ch.uuid] = ch
	s.peak = max(s.peak, len(s.channels))
	s.setInboundVars(ch)
	s.emit("CHANNEL_CREATE", ch)
	ch.state, ch.stateNum = "CS_EXECUTE", 4
	// The caller gives up on a call nobody takes: a cancel before an
	// answer, a hangup after one.
	s.after(ch, ch.out.patience, func() {
		if ch.bridge == nil && !ch.heard {
			cause := "ORIGINATOR_CANCEL"
			if ch.answered() {
				cause = "NORMAL_CLEARING"
			}
			s.hangup(ch, cause, false)
		}
	})
	s.execute(ch, "set", "socket_resume=true", func() {
		s.execute(ch, "socket", spec.Socket+" async full", func() {
			s.execute(ch, "transfer", spec.Fallback+" XML default", nil)
		})
	})
	return ch.uuid, nil
}

// RunInbound places the scenario's generated inbound calls until ctx
// ends or Count are placed: Poisson arrivals at Rate a minute, on the
// switch's clock, the callers in turn.
func (s *Switch) RunInbound(ctx context.Context) {
	spec := s.sc.Inbound
	if spec == nil || spec.Rate <= 0 {
		return
	}
	r := s.sc.rng("inbound-arrivals", 0)
	for n := 0; spec.Count == 0 || n < spec.Count; n++ {
		gap := time.Duration(r.ExpFloat64() * 60 / spec.Rate * float64(time.Second))
		due := make(chan struct{})
		t := s.clock.AfterFunc(gap, func() { close(due) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-due:
		}
		if _, err := s.Inbound(spec.Callers[n%len(spec.Callers)]); err != nil {
			return
		}
	}
}

// setInboundVars are the variables of a SIP call that came in, as the
// socket application's channel data shows them.
func (s *Switch) setInboundVars(ch *channel) {
	v := &ch.v
	for _, x := range []kv{
		{"direction", "inbound"}, {"uuid", ch.uuid}, {"session_id", strconv.Itoa(ch.sessionID)},
		{"sip_from_user", ch.cidNum}, {"sip_from_uri", ch.cidNum + "@127.0.0.1"}, {"sip_from_host", "127.0.0.1"},
		{"sip_to_user", ch.dest}, {"sip_req_user", ch.dest}, {"sip_call_id", ch.tag("call-id")},
		{"sofia_profile_name", ch.profile}, {"channel_name", ch.name}, {"call_uuid", ch.uuid},
		{"sip_network_ip", "127.0.0.1"}, {"sip_network_port", "5060"},
	} {
		v.set(x.k, x.v)
	}
}

// answerInbound is the answer application on a call that came in.
func (s *Switch) answerInbound(ch *channel) {
	now := s.clock.Now()
	ch.answeredAt = now
	ch.callState, ch.answerState = "ACTIVE", "answered"
	s.setAnswerVars(ch)
	s.emit("CHANNEL_ANSWER", ch)
}

// socketApp is the socket application in async full mode: it connects to
// the first host that accepts, on a goroutine of its own (a connect
// waits on the network), and serves the connection for the call. done
// goes on with the dialplan: when no host accepted, or the connection
// closed with resume while the call was still parked under it.
func (s *Switch) socketApp(ch *channel, arg string, done func(string)) {
	hosts := strings.Split(strings.Fields(arg + " ")[0], "|")
	app := ch.current
	ch.inSocket = true
	go func() {
		var nc net.Conn
		var errs []string
		for _, h := range hosts {
			c, err := net.DialTimeout("tcp", h, 2*time.Second)
			if err == nil {
				nc = c
				break
			}
			errs = append(errs, err.Error())
		}
		s.mu.Lock()
		for _, e := range errs {
			s.log(logErr, "mod_event_socket.c:486 Socket Error: "+e)
		}
		if nc == nil {
			s.log(logErr, "mod_event_socket.c:490 Socket Error!")
			ch.inSocket = false
			if !ch.hungUp {
				done("")
			}
			s.unlock()
			return
		}
		if ch.hungUp {
			s.unlock()
			nc.Close()
			return
		}
		// switch_ivr_park: the program's applications run inside the
		// park, which the socket application stays in until it ends.
		ch.socketConn, ch.current = true, nil
		s.emit("CHANNEL_PARK", ch)
		s.unlock()
		resume := s.srv.ServeSession(nc, ch.uuid, func() []esl.Header { return s.channelData(ch) })
		s.mu.Lock()
		defer s.unlock()
		ch.socketConn = false
		if ch.hungUp || !ch.inSocket {
			return // bridged or transferred away, or over
		}
		ch.inSocket = false
		s.stopCurrent(ch)
		s.emit("CHANNEL_UNPARK", ch)
		if on, _ := ch.v.get("socket_resume"); !resume && !switchTrue(on) {
			s.hangup(ch, "NORMAL_CLEARING", true)
			return
		}
		ch.current = app
		done("")
	}()
}

// channelData is the CHANNEL_DATA the socket application answers
// connect with.
func (s *Switch) channelData(ch *channel) []esl.Header {
	s.mu.Lock()
	defer s.unlock()
	b := s.event("CHANNEL_DATA")
	s.addChannel(b, ch)
	return b.Event().Headers()[1:] // without Event-Name: connect's reply puts it first
}
