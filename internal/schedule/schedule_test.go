package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var msk = time.FixedZone("MSK", 3*60*60)

func TestParseTime(t *testing.T) {
	at := func(y int, m time.Month, d, h, mi, s int) time.Time { return time.Date(y, m, d, h, mi, s, 0, msk) }
	tests := []struct {
		in   string
		want time.Time // zero: an error
	}{
		{"2026-12-08 09:00", at(2026, 12, 8, 9, 0, 0)},
		{"  2026-12-08 09:00  ", at(2026, 12, 8, 9, 0, 0)},
		{"2026-12-08T09:00", at(2026, 12, 8, 9, 0, 0)},
		{"2026-12-08 9:05:30", at(2026, 12, 8, 9, 5, 30)},
		{"2026-12-08", at(2026, 12, 8, 0, 0, 0)},
		{"08.12.2026 09:00", at(2026, 12, 8, 9, 0, 0)},
		{"8.12.2026 18:30", at(2026, 12, 8, 18, 30, 0)},
		{"08.12.2026", at(2026, 12, 8, 0, 0, 0)},
		{"2026-12-08T09:00:00+05:00", time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC)},
		{"2026-12-08T06:00:00Z", time.Date(2026, 12, 8, 6, 0, 0, 0, time.UTC)},
		{"2028-02-29", at(2028, 2, 29, 0, 0, 0)},
		{"", time.Time{}},
		{"tomorrow", time.Time{}},
		{"09:00", time.Time{}}, // a cell names its day
		{"2026-12-08 25:00", time.Time{}},
		{"2026-12-08 09:60", time.Time{}},
		{"2026-12-08 09:0", time.Time{}},
		{"31.11.2026", time.Time{}},
		{"2027-02-29", time.Time{}},
		{"12/08/2026", time.Time{}}, // which is the month? Not guessed
		{"2026-13-01", time.Time{}},
		{"08.12.26", time.Time{}},
		{"2026-12-08 09:00 MSK", time.Time{}},
		{"+2026-12-08", time.Time{}},
		{"2026-12-08 " + strings.Repeat("9", 70), time.Time{}},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, msk)
		switch {
		case tt.want.IsZero() && (err == nil || !errors.Is(err, ErrFormat)):
			t.Errorf("ParseTime(%q) = %v, %v; want an ErrFormat error", tt.in, got, err)
		case !tt.want.IsZero() && (err != nil || !got.Equal(tt.want)):
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseStart(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 30, 20, 0, msk)
	tests := []struct {
		in   string
		want time.Time // zero: an error
	}{
		{"11:00", time.Date(2026, 12, 7, 11, 0, 0, 0, msk)},
		{"10:30", time.Date(2026, 12, 7, 10, 30, 0, 0, msk)}, // within a minute: now
		{"10:29", time.Date(2026, 12, 8, 10, 29, 0, 0, msk)}, // the next such time
		{"09:00", time.Date(2026, 12, 8, 9, 0, 0, 0, msk)},
		{"2026-12-08 09:00", time.Date(2026, 12, 8, 9, 0, 0, 0, msk)},
		{"2026-12-01 09:00", time.Date(2026, 12, 1, 9, 0, 0, 0, msk)}, // the past is the caller's to refuse
		{"2026-12-08T09:00:00+03:00", time.Date(2026, 12, 8, 9, 0, 0, 0, msk)},
		{"9", time.Time{}},
		{"noon", time.Time{}},
	}
	for _, tt := range tests {
		got, err := ParseStart(tt.in, now)
		switch {
		case tt.want.IsZero() && !errors.Is(err, ErrFormat):
			t.Errorf("ParseStart(%q) = %v, %v; want an ErrFormat error", tt.in, got, err)
		case !tt.want.IsZero() && (err != nil || !got.Equal(tt.want)):
			t.Errorf("ParseStart(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	// Across the end of a month.
	if got, _ := ParseStart("08:00", time.Date(2026, 12, 31, 9, 0, 0, 0, msk)); !got.Equal(time.Date(2027, 1, 1, 8, 0, 0, 0, msk)) {
		t.Errorf("08:00 on 31 December at 09:00 = %v, want 1 January 08:00", got)
	}
}

// FuzzParseTime: any cell is read or refused, never a panic; a time read
// without an offset, written back as a date and time, reads the same.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-12-08 09:00", "08.12.2026", "2026-12-08T09:00:00+03:00", "9.1.2026 7:05:09", "31.02.2026", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, msk)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("ParseTime(%q): %v, not ErrFormat", s, err)
			}
			return
		}
		again, err := ParseTime(got.In(msk).Format("2006-01-02 15:04:05"), msk)
		if err != nil || !again.Equal(got.Truncate(time.Second)) {
			t.Fatalf("ParseTime(%q) = %v; written back, %v, %v", s, got, again, err)
		}
	})
}
