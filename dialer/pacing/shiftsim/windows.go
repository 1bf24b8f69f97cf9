package shiftsim

import (
	"time"

	"github.com/fsdialer/fsdialer/dialer/pacing"
)

// windows keeps the campaign's counts by clock minute, hour and day, as
// the store does (store.WindowFields, CampaignStats), and sums the last
// 60 minutes, 24 hours and 30 days into the pacer's Windows.
type windows struct {
	minutes [60]bucket
	hours   [24]bucket
	days    [30]bucket
}

type bucket struct {
	unit                            int64 // the minute, hour or day since 1970, plus one (0: empty)
	calls, live, abandoned, machine int64
}

func (b *bucket) add(unit int64, live, abandoned, machine bool) {
	if b.unit != unit+1 {
		*b = bucket{unit: unit + 1}
	}
	b.calls++
	for _, c := range []struct {
		yes bool
		n   *int64
	}{{live, &b.live}, {abandoned, &b.abandoned}, {machine, &b.machine}} {
		if c.yes {
			*c.n++
		}
	}
}

func (w *windows) count(t time.Time, live, abandoned, machine bool) {
	sec := t.Unix()
	w.minutes[(sec/60)%60].add(sec/60, live, abandoned, machine)
	w.hours[(sec/3600)%24].add(sec/3600, live, abandoned, machine)
	w.days[(sec/86400)%30].add(sec/86400, live, abandoned, machine)
}

func (w *windows) at(t time.Time) pacing.Windows {
	sec := t.Unix()
	var out pacing.Windows
	for _, b := range w.minutes {
		if b.unit > 0 && sec/60-(b.unit-1) < 60 {
			out.CallsHour += b.calls
			out.LiveHour, out.AbandonedHour, out.MachineHour = out.LiveHour+b.live, out.AbandonedHour+b.abandoned, out.MachineHour+b.machine
		}
	}
	for _, b := range w.hours {
		if b.unit > 0 && sec/3600-(b.unit-1) < 24 {
			out.LiveDay, out.AbandonedDay, out.MachineDay = out.LiveDay+b.live, out.AbandonedDay+b.abandoned, out.MachineDay+b.machine
		}
	}
	for _, b := range w.days {
		if b.unit > 0 && sec/86400-(b.unit-1) < 30 {
			out.LiveMonth, out.AbandonedMonth, out.MachineMonth = out.LiveMonth+b.live, out.AbandonedMonth+b.abandoned, out.MachineMonth+b.machine
		}
	}
	return out
}
