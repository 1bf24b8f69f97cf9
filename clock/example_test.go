package clock_test

import (
	"fmt"
	"time"

	"github.com/fsdialer/fsdialer/clock"
)

func ExampleNewFake() {
	c := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	c.AfterFunc(90*time.Second, func() { fmt.Println("fired at", c.Now().Format("15:04:05")) })
	c.Advance(time.Minute)
	fmt.Println("a minute on:", c.Pending(), "pending")
	c.Advance(time.Minute)
	// Output:
	// a minute on: 1 pending
	// fired at 09:01:30
}
