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
	f.Add("gw", "$1", "/m.wav", "", "", "", "sofia/internal/1000@10.0.0.1", "123")
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
		a := &store.Attempt{ID: "att-1", AgentLeg: "leg-1", Number: m.Communications[0].Number}
		args, err := originateArgs(c, m, a, ts[0], true)
		if err != nil {
			t.Fatalf("the API accepted what the builder refuses: %v", err)
		}
		readsAsOneCommand(t, args)
		// The agent's originates: the value as the agent's contact.
		agent := &store.Agent{ID: "a1", Contact: value}
		agent.Normalize()
		if agent.Validate() != nil {
			return
		}
		for _, build := range []func() (string, error){
			func() (string, error) { return agentOriginateArgs(c, m, a, agent, termsOf(agent, c), true) },
			func() (string, error) { return sessionOriginateArgs(agent, "leg-1") },
		} {
			args, err := build()
			if err != nil {
				t.Fatalf("the API accepted a contact the builder refuses: %v", err)
			}
			readsAsOneCommand(t, args)
		}
	})
}

// readsAsOneCommand checks that an originate, as the esl client writes
// it, is read by the switch as one command.
func readsAsOneCommand(t *testing.T, args string) {
	t.Helper()
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
}
