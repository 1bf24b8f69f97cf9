package sim_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/sim"
)

func ExampleNew() {
	sc, err := sim.ParseScenario([]byte(`
seed: 1
gateways: [{name: carrier}]
numbers:
  - {pattern: "^2", busy: 1, setup: 0.5}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// 1000 times faster than real time: the half second of setup is 0.5 ms.
	sw := sim.New(sc, clock.NewScaled(1000), sim.Options{Password: "ClueCon"})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go sw.Serve(l)
	defer sw.Close()

	conn, err := esl.Dial(context.Background(), l.Addr().String(), esl.Config{Password: "ClueCon"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	job, _ := conn.BgAPI(context.Background(), "originate {origination_uuid=call-1}sofia/gateway/carrier/2000 &park()")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := job.Wait(ctx)
	fmt.Print(out)
	fmt.Println(err)
	// Output:
	// -ERR USER_BUSY
	// esl: originate: -ERR USER_BUSY
}
