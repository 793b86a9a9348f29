package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Quota is a limit over a rolling window: at most N letters (or
// recipients, send.daily_limit_counts) in any Per. The zero Quota is no
// limit.
type Quota struct {
	N   int
	Per time.Duration
}

// Day is the window of a bare send.daily_limit: 24 hours, rolling, as
// providers count.
const Day = 24 * time.Hour

// ParseQuota reads "N" (per 24 hours) or "N/DURATION" ("2000/24h",
// "5/10s"); empty or "0" is no limit.
func ParseQuota(s string) (Quota, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return Quota{}, nil
	}
	num, per, windowed := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 1 {
		return Quota{}, fmt.Errorf("want a limit like 500 (per 24 hours) or 2000/24h, got %q", s)
	}
	if !windowed {
		return Quota{N: n, Per: Day}, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d < time.Second {
		return Quota{}, fmt.Errorf("want a window like 24h, 1h or 10s after the slash, got %q", s)
	}
	return Quota{N: n, Per: d}, nil
}

// UnmarshalText reads a quota as ParseQuota does.
func (q *Quota) UnmarshalText(text []byte) error {
	v, err := ParseQuota(string(text))
	if err != nil {
		return err
	}
	*q = v
	return nil
}

// String writes the quota as ParseQuota reads it: 500/24h, 5/10s.
func (q Quota) String() string {
	if q.N == 0 {
		return "0"
	}
	return fmt.Sprintf("%d/%s", q.N, shortDuration(q.Per))
}

// Window says the window for people: "24 h", "10 s".
func (q Quota) Window() string {
	s := shortDuration(q.Per)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i > 0 && strings.Trim(s[i:], "hms") == "" && len(s[i:]) == 1 {
		return s[:i] + " " + s[i:]
	}
	return s
}

// In24h is the most the quota lets through in any 24 hours.
func (q Quota) In24h() int {
	if q.N == 0 || q.Per >= Day {
		return q.N
	}
	return q.N * int((Day+q.Per-1)/q.Per)
}

// shortDuration writes d without its zero units: 24h, 90m, 10s.
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// What send.daily_limit_counts takes: what the provider counts.
const (
	CountLetters    = "letters"    // every letter once, whatever its recipients
	CountRecipients = "recipients" // every envelope recipient: To, Cc and Bcc
)
