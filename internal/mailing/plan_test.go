package mailing

import (
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
)

func TestEstimate(t *testing.T) {
	perMin := func(n int) config.Rate { return config.Rate{N: n, Per: time.Minute} }
	day := func(n int) config.Quota { return config.Quota{N: n, Per: config.Day} }
	tests := []struct {
		run, due, dailyLeft int
		daily               config.Quota
		recipients          bool
		rate                config.Rate
		want                string
	}{
		{1000, 1000, 0, day(0), false, perMin(30), "1,000 letters at 30/min: about 34 min"},
		{500, 2000, 500, day(500), false, perMin(30), "500 letters at 30/min: about 17 min; 2,000 letters, daily_limit 500: 4 days (500 today), re-run send each day"},
		{200, 2000, 200, day(500), false, config.Rate{}, "2,000 letters, daily_limit 500: 5 days (200 today), re-run send each day"},
		{400, 400, 500, day(500), false, perMin(30), "400 letters at 30/min: about 14 min"},
		{10000, 10000, 0, day(0), false, config.Rate{N: 1, Per: time.Second}, "10,000 letters at 1/s: about 2 h 47 min"},
		{100, 1000, 0, day(0), false, perMin(10), "100 letters at 10/min: about 10 min"}, // --limit 100
		{5, 40, 25, day(25), false, perMin(30), ""},                                      // --limit 5 under the daily limit: no days to say
		{20, 20, 0, day(0), false, perMin(30), ""},                                       // under a minute
		{1000, 1000, 0, day(0), false, config.Rate{}, ""},                                // unlimited
		{500, 1200, 500, day(500), true, config.Rate{}, "1,200 letters, daily_limit 500 recipients: at least 3 days (500 today), re-run send each day"},
		{100, 1000, 100, config.Quota{N: 100, Per: time.Hour}, false, config.Rate{}, "1,000 letters, daily_limit 100 per 1 h: 10 windows (100 now), re-run send after each"},
		{5, 12, 5, config.Quota{N: 5, Per: 10 * time.Second}, false, config.Rate{}, "12 letters, daily_limit 5 per 10 s: 3 windows (5 now), re-run send after each"},
	}
	for _, tt := range tests {
		if got := estimate(tt.run, tt.due, tt.dailyLeft, tt.daily, tt.recipients, tt.rate, ""); got != tt.want {
			t.Errorf("estimate(%d, %d, %d, %v, %v, %v) = %q, want %q", tt.run, tt.due, tt.dailyLeft, tt.daily, tt.recipients, tt.rate, got, tt.want)
		}
	}
}

// TestSayBy: the end of a plan, in the clock's zone, rounded up: the
// day by name within a week.
func TestSayBy(t *testing.T) {
	zone := time.FixedZone("MSK", 3*60*60)
	now := time.Date(2026, 12, 7, 23, 30, 0, 0, zone) // a Monday
	tests := []struct {
		t    time.Time
		fine bool
		want string
	}{
		{now.Add(10*time.Minute + time.Second), false, "~23:41 today"},
		{now.Add(10 * time.Second), true, "~23:30:10 today"},
		{time.Date(2026, 12, 8, 8, 0, 0, 0, time.UTC), false, "~11:00 tomorrow"},
		{time.Date(2026, 12, 10, 11, 0, 0, 0, zone), false, "Thursday ~11:00"},
		{time.Date(2026, 12, 14, 9, 0, 0, 0, zone), false, "Mon 14 Dec ~09:00"},
	}
	for _, tt := range tests {
		if got := sayBy(tt.t, now, tt.fine); got != tt.want {
			t.Errorf("sayBy(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}

// TestWindowRoom: when the window has room for more letters: once
// enough of the deliveries it counts have left it, and never the moment
// it has now.
func TestWindowRoom(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	at := func(s int) journal.Delivery {
		return journal.Delivery{Time: now.Add(time.Duration(s) * time.Second), Rcpts: 2}
	}
	w := &window{quota: config.Quota{N: 5, Per: 10 * time.Second}, now: now, left: 1, counted: []journal.Delivery{at(-8), at(-5), at(-5), at(-1)}}
	tests := []struct {
		n      int
		want   time.Time // zero: never
		roomAt int       // at want
	}{
		{1, now.Add(2 * time.Second), 2}, // more than now, though 1 fits
		{2, now.Add(2 * time.Second), 2},
		{3, now.Add(5 * time.Second), 4},
		{5, now.Add(9 * time.Second), 5},
		{6, time.Time{}, 0},
	}
	for _, tt := range tests {
		got, ok := w.room(tt.n)
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) || ok && w.roomAt(got) != tt.roomAt {
			t.Errorf("room(%d) = %v, %v (room %d then); want %v (room %d)", tt.n, got, ok, w.roomAt(got), tt.want, tt.roomAt)
		}
	}
	if n := w.roomAt(now.Add(time.Second)); n != 1 {
		t.Errorf("roomAt a second on = %d, want 1", n)
	}
	// Counting recipients, a delivery frees its recipients.
	w.recipients = true
	if got, _ := w.room(4); !got.Equal(now.Add(5 * time.Second)) {
		t.Errorf("counting recipients, room(4) = %v, want %v", got, now.Add(5*time.Second))
	}
}

// TestFinish: when a send that waits will be done: what the window has
// room for at once, then a batch each time it has room again, at the
// rate.
func TestFinish(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	sec := func(s int) time.Time { return now.Add(time.Duration(s) * time.Second) }
	full := func(at ...int) []journal.Delivery {
		var ds []journal.Delivery
		for _, s := range at {
			ds = append(ds, journal.Delivery{Time: sec(s), Rcpts: 1})
		}
		return ds
	}
	q := config.Quota{N: 5, Per: 10 * time.Second}
	tests := []struct {
		name    string
		w       *window
		due     int
		rate    config.Rate
		want    time.Time
		counted int // the window's deliveries after, unchanged
	}{
		{"no window", nil, 120, config.Rate{N: 1, Per: time.Second}, sec(120), 0},
		{"room for all", &window{quota: q, now: now, left: 5}, 5, config.Rate{}, now, 0},
		{"three windows", &window{quota: q, now: now, left: 5}, 12, config.Rate{}, sec(20), 0},
		{"full, leaving soon", &window{quota: q, now: now, left: 0, counted: full(-2, -2, -1, -1, -1)}, 7, config.Rate{}, sec(19), 5},
		{"half full", &window{quota: q, now: now, left: 3, counted: full(-5, -4)}, 7, config.Rate{}, sec(10), 2},
		{"at a rate", &window{quota: q, now: now, left: 5}, 7, config.Rate{N: 1, Per: time.Second}, sec(14), 0},
	}
	for _, tt := range tests {
		got := finish(tt.w, now, tt.due, tt.rate)
		if !got.Equal(tt.want) {
			t.Errorf("%s: finish = %v, want %v", tt.name, got.Sub(now), tt.want.Sub(now))
		}
		if tt.w != nil && (len(tt.w.counted) != tt.counted || tt.w.now != now) {
			t.Errorf("%s: the window changed: %+v", tt.name, tt.w)
		}
	}
}
