package esl_test

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/fsdialer/fsdialer/esl"
)

// hello is a switch that answers every api command with a greeting.
type hello struct{}

func (hello) API(_ context.Context, cmd, args string) (string, func()) {
	return "+OK hello from " + cmd + "\n", nil
}

func ExampleDial() {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &esl.Server{Password: "ClueCon", Handler: hello{}}
	go srv.Serve(l)
	defer srv.Close()

	conn, err := esl.Dial(context.Background(), l.Addr().String(), esl.Config{Password: "ClueCon"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	out, err := conn.API(context.Background(), "status")
	fmt.Print(out, err)
	job, _ := conn.BgAPIJob(context.Background(), "my-job-id", "version")
	out, err = job.Wait(context.Background())
	fmt.Print(out, err)
	// Output:
	// +OK hello from status
	// <nil>+OK hello from version
	// <nil>
}

func ExampleNewClient() {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &esl.Server{Password: "ClueCon", Handler: hello{}}
	go srv.Serve(l)
	defer srv.Close()

	client := esl.NewClient(esl.ClientConfig{
		Config:  esl.Config{Password: "ClueCon", OnEvent: func(ev *esl.Event) { fmt.Println(ev.Name()) }},
		Address: l.Addr().String(),
		Events:  []string{"CHANNEL_ANSWER"},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go client.Run(ctx) // reconnects with backoff until ctx ends
	_ = client.WaitState(ctx, esl.Connected)
	out, _ := client.API(ctx, "status")
	fmt.Print(out)
	// Output:
	// +OK hello from status
}

func ExampleParseEvent() {
	body := "Event-Name: CHANNEL_ANSWER\nUnique-ID: 5c1e\nvariable_note: a%20b%3Ac\n\n"
	raw := fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-plain\n\n%s", len(body), body)
	m, err := esl.NewReader(strings.NewReader(raw)).ReadMessage()
	if err != nil {
		fmt.Println(err)
		return
	}
	ev, err := esl.ParseEvent(m)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Name(), ev.UniqueID(), ev.Var("note"))
	// Output:
	// CHANNEL_ANSWER 5c1e a b:c
}
