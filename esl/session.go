package esl

import (
	"net"
	"strings"
)

// The switch's side of outbound mode (the program's is Accept): what
// mod_event_socket's socket application does once it has connected to
// the program for a call, in async full mode (mod_event_socket.c,
// socket_function, parse_command, listener_run).

// ServeSession serves an outbound connection the switch made for the
// call uuid. It waits for connect and answers it with the call's channel
// data (channelData is called then: the headers of a CHANNEL_DATA event)
// and Socket-Mode async, Control full. From then on the connection takes
// the commands of an authenticated one, bound to the call: a sendmsg
// without a uuid is the call's, myevents subscribes to its events, resume
// asks the switch to go on with the dialplan when the connection closes.
// A command other than connect before it is served as usual. It returns
// when the connection closes, by either side, and reports whether resume
// came. EndSession closes it when the call ends.
func (s *Server) ServeSession(nc net.Conn, uuid string, channelData func() []Header) (resume bool) {
	s.mu.Lock()
	s.init()
	s.mu.Unlock()
	l := newListener(s, nc, uuid)
	s.serve(l, channelData)
	return l.resume.Load()
}

// EndSession is the call of an outbound connection ending: the events
// queued for it are sent, then the disconnect notice (Content-Disposition
// linger first, when the program asked to linger), and the connection
// closes.
func (s *Server) EndSession(uuid string) {
	s.mu.Lock()
	var found []*listener
	for l := range s.listeners {
		if l.session == uuid {
			found = append(found, l)
		}
	}
	s.mu.Unlock()
	for _, l := range found {
		l.kill()
	}
}

// connect answers the connect command of an outbound connection; false
// when c is another command.
func (l *listener) connect(c *Command, channelData func() []Header) bool {
	verb, _, _ := strings.Cut(strings.TrimSpace(c.Line), " ")
	if !strings.EqualFold(verb, "connect") {
		return false
	}
	hs := []Header{{"Event-Name", "CHANNEL_DATA"}}
	hs = append(hs, channelData()...)
	hs = append(hs, Header{"Content-Type", TypeCommandReply}, Header{"Reply-Text", "+OK\n"},
		Header{"Socket-Mode", "async"}, Header{"Control", "full"})
	// switch_event_serialize: "Name: url-encoded value" lines, a blank line.
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Name)
		b.WriteString(": ")
		b.WriteString(URLEncode(h.Value))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	l.write([]byte(b.String()))
	return true
}
