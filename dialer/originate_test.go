package dialer

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/store"
)

// FuzzOriginateArgs: whatever the API accepts is built into one originate
// that the switch reads as one command, and whatever it refuses is never
// built. The values come from every field that reaches the command.
func FuzzOriginateArgs(f *testing.F) {
	f.Add("gw", "0$1", "/sounds/tone 440.wav", "", "", "", "a,b", "+380441234567")
	f.Add("gw", "$1", "tone_stream://%(1000,0,440)", "", "", "", "two words", "123")
	f.Add("gw\napi hupall", "$1", "/m.wav", "", "", "", "x", "123")
	f.Add("gw", "$1", "", "ivr 1", "XML", "default", "x\r\nbgapi hupall", "123")
	f.Add("gw", "1,sofia/gateway/x/2", "/m.wav)", "", "", "", "}x", "123")
	f.Fuzz(func(t *testing.T, gw, dial, file, exten, dialplan, context, value, number string) {
		c := &store.Campaign{ID: "c1", Name: "c", Type: store.TypeBroadcast,
			Parameters: store.Parameters{Limit: 1, OriginateTimeout: 30},
			Resources: []store.Resource{{DialledNumber: `^\+?(\d+)$`, Destinations: []store.Destination{
				{GwName: gw, DialString: dial, Enabled: true}}}},
			Broadcast: store.Broadcast{File: file, Extension: exten, Dialplan: dialplan, Context: context},
			Variables: map[string]any{"campaign_note": value},
		}
		c.Normalize()
		m := &store.Member{ID: "0000001", Communications: []store.Communication{{Number: number}},
			Variables: map[string]any{"member_note": value}}
		m.Normalize()
		if c.Validate() != nil || m.Validate() != nil {
			return
		}
		rt, err := newRouter(c)
		if err != nil {
			t.Fatalf("a valid campaign has no router: %v", err)
		}
		ts := rt.targets(m.Communications[0].Number)
		if len(ts) == 0 {
			return
		}
		args, err := originateArgs(c, m, &store.Attempt{ID: "att-1"}, ts[0], true)
		if err != nil {
			t.Fatalf("the API accepted what the builder refuses: %v", err)
		}
		// As the esl client writes it, then as the switch reads it.
		line := "bgapi originate " + args
		if strings.ContainsAny(line, "\r\n\x00") {
			t.Fatalf("line break in %q", line)
		}
		var wire bytes.Buffer
		wire.WriteString(line + "\nJob-UUID: att-1\n\n")
		r := esl.NewReader(&wire)
		cmd, err := r.ReadCommand()
		if err != nil || cmd.Line != line || cmd.Get("Job-UUID") != "att-1" {
			t.Fatalf("read back %+v, %v", cmd, err)
		}
		if extra, err := r.ReadCommand(); !errors.Is(err, io.EOF) {
			t.Fatalf("a second command %+v (%v) in %q", extra, err, line)
		}
	})
}
