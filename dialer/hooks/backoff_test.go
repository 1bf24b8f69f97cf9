package hooks

import (
	"testing"
	"time"
)

// TestBackoff: the wait doubles from the delay, is capped, and its jitter
// keeps it between half and all of that.
func TestBackoff(t *testing.T) {
	cases := []struct {
		try          int
		delay, limit time.Duration
		want         time.Duration // before jitter
	}{
		{1, time.Second, time.Minute, time.Second},
		{2, time.Second, time.Minute, 2 * time.Second},
		{5, time.Second, time.Minute, 16 * time.Second},
		{7, time.Second, time.Minute, time.Minute},
		{1000, time.Second, time.Minute, time.Minute},        // no overflow
		{3, 10 * time.Minute, time.Minute, 10 * time.Minute}, // a delay above the cap is the cap
		{1, 0, time.Minute, 0},
	}
	for _, tc := range cases {
		for range 100 {
			got := backoff(tc.try, tc.delay, tc.limit)
			if got < tc.want/2 || got > tc.want {
				t.Fatalf("backoff(%d, %v, %v) = %v, want %v to %v", tc.try, tc.delay, tc.limit, got, tc.want/2, tc.want)
			}
		}
	}
}
