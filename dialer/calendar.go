package dialer

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/fsdialer/fsdialer/store"
)

// Schedule is a calendar made ready to answer "may we call now, and if not,
// when?". The date range and the holidays are judged in the calendar's time
// zone: they are the campaign's. The weekly working ranges are judged in
// the called person's time zone: nobody is called outside their local hours.
type Schedule struct {
	loc      *time.Location
	start    time.Time // first moment of StartDate; zero: no start
	end      time.Time // first moment after EndDate; zero: no end
	week     [8][]minuteRange
	holidays map[string]bool // YYYY-MM-DD
	yearly   map[string]bool // MM-DD
}

type minuteRange struct{ from, to int }

// AlwaysOpen is the schedule of a campaign without a calendar.
var AlwaysOpen = &Schedule{loc: time.UTC}

// NewSchedule prepares a calendar (already validated by the store).
func NewSchedule(cal *store.Calendar) (*Schedule, error) {
	loc, err := time.LoadLocation(cal.Timezone)
	if err != nil {
		return nil, fmt.Errorf("calendar %s: %w", cal.ID, err)
	}
	s := &Schedule{loc: loc, holidays: map[string]bool{}, yearly: map[string]bool{}}
	if cal.StartDate != "" {
		d, err := time.ParseInLocation(time.DateOnly, cal.StartDate, loc)
		if err != nil {
			return nil, fmt.Errorf("calendar %s: startDate: %w", cal.ID, err)
		}
		s.start = d
	}
	if cal.EndDate != "" {
		d, err := time.ParseInLocation(time.DateOnly, cal.EndDate, loc)
		if err != nil {
			return nil, fmt.Errorf("calendar %s: endDate: %w", cal.ID, err)
		}
		s.end = d.AddDate(0, 0, 1)
	}
	for _, r := range cal.Week {
		s.week[r.Day] = append(s.week[r.Day], minuteRange{r.StartTime, r.EndTime})
	}
	for d := range s.week {
		sort.Slice(s.week[d], func(i, j int) bool { return s.week[d][i].from < s.week[d][j].from })
	}
	for _, h := range cal.Holidays {
		if h.Repeat {
			s.yearly[h.Date[5:]] = true
		} else {
			s.holidays[h.Date] = true
		}
	}
	return s, nil
}

// Location is the calendar's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Over reports whether the calendar's period has ended at t.
func (s *Schedule) Over(t time.Time) bool { return !s.end.IsZero() && !t.Before(s.end) }

// isoWeekday is 1 (Monday) .. 7 (Sunday).
func isoWeekday(t time.Time) int {
	if wd := t.Weekday(); wd != time.Sunday {
		return int(wd)
	}
	return 7
}

// NextOpen returns the first moment at or after t when someone in local
// may be called, and false if there is none (the period is over, or the
// calendar has no working range at all).
func (s *Schedule) NextOpen(t time.Time, local *time.Location) (time.Time, bool) {
	if s == AlwaysOpen {
		return t, true
	}
	for i := 0; i < 1000; i++ {
		if s.Over(t) {
			return time.Time{}, false
		}
		if !s.start.IsZero() && t.Before(s.start) {
			t = s.start
			continue
		}
		day := t.In(s.loc).Format(time.DateOnly)
		if s.holidays[day] || s.yearly[day[5:]] {
			y, m, d := t.In(s.loc).Date()
			t = time.Date(y, m, d+1, 0, 0, 0, 0, s.loc)
			continue
		}
		next, ok := s.nextWorking(t, local)
		if !ok {
			return time.Time{}, false
		}
		if next.Equal(t) {
			return t, true
		}
		t = next // check the date range and holidays again at the new moment
	}
	return time.Time{}, false
}

// OpenAt reports whether someone in local may be called at t.
func (s *Schedule) OpenAt(t time.Time, local *time.Location) bool {
	next, ok := s.NextOpen(t, local)
	return ok && next.Equal(t)
}

// nextWorking finds the first moment at or after t inside a weekly working
// range, in local wall-clock time (so DST changes move nothing).
func (s *Schedule) nextWorking(t time.Time, local *time.Location) (time.Time, bool) {
	lt := t.In(local)
	y, m, d := lt.Date()
	for off := 0; off <= 7; off++ {
		day := time.Date(y, m, d+off, 0, 0, 0, 0, local)
		for _, r := range s.week[isoWeekday(day)] {
			dy, dm, dd := day.Date()
			from := time.Date(dy, dm, dd, r.from/60, r.from%60, 0, 0, local)
			to := time.Date(dy, dm, dd, r.to/60, r.to%60, 0, 0, local)
			if t.Before(to) {
				if t.Before(from) {
					return from, true
				}
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// zones finds the time zone a member lives in: theirs if given, else the
// one their number says (when the number tells), else the fallback.
type zones struct {
	region string // default region for numbers without a country code
	mu     sync.Mutex
	cache  map[string]*time.Location
}

func newZones(region string) *zones {
	return &zones{region: region, cache: map[string]*time.Location{}}
}

func (z *zones) load(name string) *time.Location {
	z.mu.Lock()
	defer z.mu.Unlock()
	if loc, ok := z.cache[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	z.cache[name] = loc
	return loc
}

// of returns the member's zone for a number.
func (z *zones) of(m *store.Member, number string, fallback *time.Location) *time.Location {
	if m.Timezone != "" {
		if loc := z.load(m.Timezone); loc != nil {
			return loc
		}
	}
	if num, err := phonenumbers.Parse(number, z.region); err == nil {
		if names, err := phonenumbers.GetTimezonesForNumber(num); err == nil && len(names) > 0 && names[0] != "Etc/Unknown" {
			if loc := z.load(names[0]); loc != nil {
				return loc
			}
		}
	}
	return fallback
}
