package pacing_test

import (
	"testing"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/dialer/pacing"
)

func TestLinesFillsFreeLines(t *testing.T) {
	ringing := pacing.Flight{State: attempt.Ringing}
	for _, tc := range []struct {
		lines, inFlight, want int
	}{
		{10, 0, 10}, {10, 4, 6}, {10, 10, 0}, {3, 5, 0}, {0, 0, 0},
	} {
		v := pacing.View{Lines: tc.lines}
		for i := 0; i < tc.inFlight; i++ {
			v.InFlight = append(v.InFlight, ringing)
		}
		if got := (pacing.Lines{}).Calls(v); got != tc.want {
			t.Errorf("%d lines, %d in flight: %d calls, want %d", tc.lines, tc.inFlight, got, tc.want)
		}
	}
}
