package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrFormat is wrapped by the errors about a time that cannot be read.
var ErrFormat = errors.New("not a date and time")

// maxLen caps what is parsed: a cell of a list can be anything.
const maxLen = 64

// ParseTime reads a send time: a date and a time of day as 2026-12-08
// 09:00 (or 2026-12-08T09:00, seconds optional) or 08.12.2026 09:00, the
// way Russian users write it; a date alone (2026-12-08, 08.12.2026), which
// is its midnight; or RFC 3339 with an offset (2026-12-08T09:00:00+03:00).
// A time without an offset is the wall-clock time in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxLen {
		return time.Time{}, fmt.Errorf("%w: want a date and time like 2026-12-08 09:00 or 08.12.2026 09:00, got %d characters", ErrFormat, len(s))
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	datePart, clock, _ := strings.Cut(strings.Replace(s, "T", " ", 1), " ")
	y, m, d, ok := date(datePart)
	var h, mi, sec int
	if clock = strings.TrimSpace(clock); ok && clock != "" {
		h, mi, sec, ok = timeOfDay(clock)
	}
	if !ok {
		return time.Time{}, fmt.Errorf("%w: want a date and time like 2026-12-08 09:00 or 08.12.2026 09:00 (or a date alone), got %q", ErrFormat, s)
	}
	return time.Date(y, time.Month(m), d, h, mi, sec, 0, loc), nil
}

// ParseStart reads when a send is to start (send --at): a time as
// ParseTime reads it, in now's location, or a time of day alone (09:00),
// which is the next such time: today's, unless it was more than a minute
// before now, else tomorrow's.
func ParseStart(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if h, mi, sec, ok := timeOfDay(s); ok {
		t := time.Date(now.Year(), now.Month(), now.Day(), h, mi, sec, 0, now.Location())
		if t.Before(now.Add(-time.Minute)) {
			t = time.Date(now.Year(), now.Month(), now.Day()+1, h, mi, sec, 0, now.Location())
		}
		return t, nil
	}
	t, err := ParseTime(s, now.Location())
	if err != nil {
		return t, fmt.Errorf("%w: want a time like 09:00, 2026-12-08 09:00 or 2026-12-08T09:00:00+03:00, got %q", ErrFormat, s)
	}
	return t, nil
}

// date reads 2026-12-08 or 08.12.2026 (one-digit day and month too), a
// day the calendar has.
func date(s string) (y, m, d int, ok bool) {
	var parts []string
	switch {
	case strings.Count(s, "-") == 2:
		parts = strings.Split(s, "-")
		parts[0], parts[2] = parts[2], parts[0]
	case strings.Count(s, ".") == 2:
		parts = strings.Split(s, ".")
	default:
		return 0, 0, 0, false
	}
	d, okD := number(parts[0], 1, 2)
	m, okM := number(parts[1], 1, 2)
	y, okY := number(parts[2], 4, 4)
	if !okD || !okM || !okY || m < 1 || m > 12 || d < 1 || y < 1 {
		return 0, 0, 0, false
	}
	if d > time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return 0, 0, 0, false // 31.11: not a day
	}
	return y, m, d, true
}

// timeOfDay reads 09:00, 9:00 or 09:00:30.
func timeOfDay(s string) (h, m, sec int, ok bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return 0, 0, 0, false
	}
	h, okH := number(parts[0], 1, 2)
	m, okM := number(parts[1], 2, 2)
	okS := true
	if len(parts) == 3 {
		sec, okS = number(parts[2], 2, 2)
	}
	if !okH || !okM || !okS || h > 23 || m > 59 || sec > 59 {
		return 0, 0, 0, false
	}
	return h, m, sec, true
}

// number reads a decimal number of lo to hi ASCII digits.
func number(s string, lo, hi int) (int, bool) {
	if len(s) < lo || len(s) > hi {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
