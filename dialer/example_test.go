package dialer_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// Example wires the engine as dialerd does: a store, an event socket client
// per switch feeding the engine, and the engine itself; then runs a voice
// broadcast of three members against the simulator, 100 times faster than
// real time.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := clock.NewScaled(100)

	sc, _ := sim.ParseScenario([]byte("gateways: [{name: gw}]\ndefault: {answer: 1, ring: 2, talk: 60}\nplayback: 10\n"))
	sw := sim.New(sc, clk, sim.Options{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go sw.Serve(l)
	defer sw.Close()

	st, err := store.Open(ctx, store.Config{URL: "embedded"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	var eng *dialer.Engine
	client := esl.NewClient(esl.ClientConfig{
		Config:  esl.Config{Password: "ClueCon", OnEvent: func(ev *esl.Event) { eng.HandleEvent("fs1", ev) }},
		Name:    "fs1",
		Address: l.Addr().String(),
		Events:  dialer.Events(),
		OnState: func(node string, s esl.State, err error) { eng.HandleState(node, s, err) },
	})
	pool := esl.NewPool(esl.NewNode(client, 0))
	eng = dialer.New(dialer.Config{Store: st, Switches: dialer.PoolSwitches(pool), Clock: clk})
	go pool.Run(ctx)
	go eng.Run(ctx)

	c := &store.Campaign{Name: "reminder", Type: store.TypeBroadcast,
		Parameters: store.Parameters{Limit: 10, MinBillSec: 5},
		Resources:  []store.Resource{{DialledNumber: ".", Destinations: []store.Destination{{GwName: "gw", Enabled: true}}}},
		Broadcast:  store.Broadcast{File: "/sounds/reminder.wav"}}
	_ = st.CreateCampaign(ctx, c, clk.Now())
	res, _ := eng.AddMembers(ctx, c.ID, []*store.Member{
		{Communications: []store.Communication{{Number: "+380911111111"}}},
		{Communications: []store.Communication{{Number: "+380922222222"}}},
		{Communications: []store.Communication{{Number: "+380933333333"}}},
	}, true) // autoRun: start the campaign

	for _, r := range res {
		for i := 0; i < 500; i++ {
			m, _, _ := st.GetMember(ctx, c.ID, r.ID)
			if m.EndCause != "" {
				fmt.Println(r.ID, m.EndCause, m.Attempts, "attempt")
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Output:
	// 0000001 NORMAL_CLEARING 1 attempt
	// 0000002 NORMAL_CLEARING 1 attempt
	// 0000003 NORMAL_CLEARING 1 attempt
}

// ExampleEngine_Call places a click-to-call: agent 1001's phone rings
// (answering by itself), then the destination is dialed through the calls
// campaign's routes and bridged in. The agent is on that call, so a second
// request for them is refused.
func ExampleEngine_Call() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := clock.NewScaled(100)

	sc, _ := sim.ParseScenario([]byte("gateways: [{name: gw}]\ndefault: {answer: 1, ring: 2, talk: 60}\nagents: [{extension: \"1001\", answer_delay: 1}]\n"))
	sw := sim.New(sc, clk, sim.Options{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go sw.Serve(l)
	defer sw.Close()
	st, err := store.Open(ctx, store.Config{URL: "embedded"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	var eng *dialer.Engine
	client := esl.NewClient(esl.ClientConfig{
		Config:  esl.Config{Password: "ClueCon", OnEvent: func(ev *esl.Event) { eng.HandleEvent("fs1", ev) }},
		Name:    "fs1",
		Address: l.Addr().String(),
		Events:  dialer.Events(),
		OnState: func(node string, s esl.State, err error) { eng.HandleState(node, s, err) },
	})
	pool := esl.NewPool(esl.NewNode(client, 0))
	eng = dialer.New(dialer.Config{Store: st, Switches: dialer.PoolSwitches(pool), Clock: clk, CallsCampaign: "click-to-call"})
	go pool.Run(ctx)
	go eng.Run(ctx)

	_, _ = st.PutAgent(ctx, &store.Agent{ID: "olena", Contact: "user/1001"}, clk.Now())
	_ = st.SetAgentStatus(ctx, "olena", store.AgentAvailable, clk.Now())
	c := &store.Campaign{Name: "click-to-call", Type: store.TypeProgressive,
		Parameters: store.Parameters{Limit: 10, OriginateTimeout: 30},
		Resources:  []store.Resource{{DialledNumber: `^\+380`, Destinations: []store.Destination{{GwName: "gw", Enabled: true}}}}}
	_ = st.CreateCampaign(ctx, c, clk.Now())
	_, _ = eng.StartCampaign(ctx, c.ID)

	req := dialer.CallRequest{Destination: "+380911111111", Extension: "1001", AutoAnswer: true}
	id, err := eng.Call(ctx, req)
	for errors.Is(err, dialer.ErrCallsUnavailable) { // the campaign is starting
		time.Sleep(10 * time.Millisecond)
		id, err = eng.Call(ctx, req)
	}
	fmt.Println(len(id) == 36, err)
	_, err = eng.Call(ctx, dialer.CallRequest{Destination: "+380922222222", Extension: "1001"})
	fmt.Println(errors.Is(err, store.ErrConflict))
	// Output:
	// true <nil>
	// true
}
