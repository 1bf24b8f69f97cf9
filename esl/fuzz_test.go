package esl

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReadMessage feeds arbitrary bytes to the envelope reader and the event
// parsers, seeded with every captured session. They must never panic, and
// what parses must survive a round trip through the plain form.
func FuzzReadMessage(f *testing.F) {
	// Each captured message is a seed of its own: small inputs mutate
	// faster than whole sessions.
	for _, data := range captureFiles(f) {
		r := NewReader(bytes.NewReader(data))
		for {
			m, err := r.ReadMessage()
			if err != nil {
				break
			}
			f.Add(AppendMessage(nil, m.Headers, m.Body))
		}
	}
	f.Add([]byte("Content-Type: text/event-json\nContent-Length: 31\n\n{\"Event-Name\":\"X\",\"_body\":\"b\"}"))
	f.Add([]byte("Content-Type: text/event-xml\nContent-Length: 60\n\n<event><headers><Event-Name>X</Event-Name></headers></event>"))
	f.Add([]byte("Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; i < 64; i++ {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			if !strings.HasPrefix(m.ContentType(), "text/event-") {
				continue
			}
			ev, err := ParseEvent(m)
			if err != nil {
				continue
			}
			again, err := ParsePlainEvent(ev.String())
			if err != nil {
				if m.ContentType() == TypeEventPlain {
					t.Fatalf("a parsed plain event does not parse again: %v", err)
				}
				continue
			}
			if again.Len() != ev.Len() || again.Body() != ev.Body() {
				t.Fatalf("round trip changed the event: %d headers %q, then %d %q", ev.Len(), ev.Body(), again.Len(), again.Body())
			}
			for j := 0; j < ev.Len(); j++ {
				_ = ev.Header(j)
			}
			_ = ev.AppendJSON(nil)
			_ = ev.AppendXML(nil)
		}
	})
}

// FuzzReadCommand is the server side: any bytes a client sends.
func FuzzReadCommand(f *testing.F) {
	f.Add([]byte("auth ClueCon\n\n"))
	f.Add([]byte("bgapi originate {a=1}user/1 &park()\nJob-UUID: x\n\n"))
	f.Add([]byte("sendmsg u\ncall-command: execute\nContent-Length: 3\n\nabc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; i < 64; i++ {
			if _, err := r.ReadCommand(); err != nil {
				return
			}
		}
	})
}
