package esl_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/esl"
)

// connectReply is what FreeSWITCH answers connect with: the channel data
// as headers, URL-encoded, Reply-Text with its trailing line break
// (mod_event_socket.c, "connect").
const connectReply = "Event-Name: CHANNEL_DATA\nCore-UUID: 2b0b2fd6-2f8e-4a5b-9f1a-64a1c5a0b7a1\n" +
	"Unique-ID: 7f4de4bc-17d7-11dd-b7a0-db4edd065621\nCaller-Caller-ID-Number: %2B380501112233\n" +
	"Caller-Destination-Number: 4000\nCall-Direction: inbound\nvariable_sip_from_display: Ivan%20Petrenko\n" +
	"Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: async\nControl: full\n\n"

// switchSide plays FreeSWITCH's socket application: it connects, reads
// the program's connect and answers with reply, then answers one api
// command.
func switchSide(t *testing.T, addr, reply string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	read := func() string {
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == "\n" {
				return strings.Join(lines, "")
			}
			lines = append(lines, l)
		}
	}
	if got := read(); got != "connect\n" {
		t.Errorf("the program said %q first, want connect", got)
		return
	}
	nc.Write([]byte(reply))
	if got := read(); got == "api status\n" {
		nc.Write([]byte("Content-Type: api/response\nContent-Length: 3\n\nUP\n"))
	}
	time.Sleep(100 * time.Millisecond)
}

// TestOutboundConnections: a call handed over by the socket application
// gives its channel data, decoded, and the connection then takes
// commands; a switch that answers connect otherwise is refused, saying
// why.
func TestOutboundConnections(t *testing.T) {
	for _, tc := range []struct {
		name, reply, fails string
	}{
		{"the channel data", connectReply, ""},
		{"refused", "Content-Type: command/reply\nReply-Text: -ERR no session\n\n", "connect refused: -ERR no session"},
		{"not a reply", "Content-Type: text/disconnect-notice\nContent-Length: 3\n\nbye", "not command/reply"},
		{"no call", "Content-Type: command/reply\nReply-Text: %2BOK%0A\n\n", "no Unique-ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			got := make(chan string, 1)
			go esl.ServeOutbound(ctx, l, esl.Config{DialTimeout: 2 * time.Second, IdleProbe: -1}, func(c *esl.Conn, ch *esl.Event) {
				defer c.Close()
				out, err := c.API(ctx, "status")
				got <- ch.UniqueID() + " " + ch.Get("Caller-Caller-ID-Number") + " " + ch.Var("sip_from_display") + " " + ch.Get("Socket-Mode") + " " + strings.TrimSpace(out)
				if err != nil {
					t.Error(err)
				}
			}, func(err error) { got <- "failed: " + err.Error() })
			go switchSide(t, l.Addr().String(), tc.reply)
			select {
			case s := <-got:
				switch {
				case tc.fails == "" && s != "7f4de4bc-17d7-11dd-b7a0-db4edd065621 +380501112233 Ivan Petrenko async UP":
					t.Errorf("got %q", s)
				case tc.fails != "" && !strings.Contains(s, tc.fails):
					t.Errorf("got %q, want a failure saying %q", s, tc.fails)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no connection handled")
			}
		})
	}
}

// TestSessionLingers: a program that asked to linger gets the linger
// notice when the call ends, then the events still queued, then the
// disconnect notice (mod_event_socket.c, listener_run).
func TestSessionLingers(t *testing.T) {
	srv := &esl.Server{Handler: nopHandler{}}
	switchEnd, programEnd := net.Pipe()
	served := make(chan struct{})
	go func() {
		srv.ServeSession(switchEnd, "call-1", func() []esl.Header { return []esl.Header{{Name: "Unique-ID", Value: "call-1"}} })
		close(served)
	}()
	r := esl.NewReader(programEnd)
	for _, cmd := range []string{"connect", "linger"} {
		if _, err := programEnd.Write([]byte(cmd + "\n\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	srv.EndSession("call-1")
	var got []string
	for {
		m, err := r.ReadMessage()
		if err != nil {
			break
		}
		got = append(got, m.ContentType()+" "+m.Get("Content-Disposition"))
	}
	<-served
	if want := "[text/disconnect-notice linger text/disconnect-notice disconnect]"; fmt.Sprint(got) != want {
		t.Errorf("after the call's end: %v, want %s", got, want)
	}
}

type nopHandler struct{}

func (nopHandler) API(context.Context, string, string) (string, func()) { return "+OK\n", nil }
