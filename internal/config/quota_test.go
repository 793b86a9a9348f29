package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseQuota(t *testing.T) {
	tests := []struct {
		in   string
		want Quota
		text string
	}{
		{"", Quota{}, "0"},
		{"0", Quota{}, "0"},
		{"500", Quota{500, Day}, "500/24h"},
		{" 2000/24h ", Quota{2000, Day}, "2000/24h"},
		{"5/10s", Quota{5, 10 * time.Second}, "5/10s"},
		{"100/90m", Quota{100, 90 * time.Minute}, "100/90m"},
	}
	for _, tt := range tests {
		got, err := ParseQuota(tt.in)
		if err != nil || got != tt.want || got.String() != tt.text {
			t.Errorf("ParseQuota(%q) = %v (%s), %v; want %v (%s)", tt.in, got, got, err, tt.want, tt.text)
		}
	}
	for _, in := range []string{"-1", "x", "1.5", "10/day", "10/", "10/0s", "10/500ms", "/24h"} {
		if _, err := ParseQuota(in); err == nil {
			t.Errorf("ParseQuota(%q) succeeded", in)
		}
	}
	if w := (Quota{500, Day}).Window(); w != "24 h" {
		t.Errorf("Window() = %q, want 24 h", w)
	}
	if n := (Quota{5, 10 * time.Hour}).In24h(); n != 15 {
		t.Errorf("In24h(5/10h) = %d, want 15", n)
	}
}

// TestDailyLimitKey: send.daily_limit reads from YAML as an integer (per
// 24 hours) or with a window; a bad value is an error located at its
// line; daily_limit_counts takes letters or recipients.
func TestDailyLimitKey(t *testing.T) {
	tests := []struct {
		yaml   string
		want   Quota
		counts string
		err    string
	}{
		{"send:\n  daily_limit: 500\n", Quota{500, Day}, CountLetters, ""},
		{"send:\n  daily_limit: 2000/24h\n", Quota{2000, Day}, CountLetters, ""},
		{"send:\n  daily_limit: 5/10s\n  daily_limit_counts: recipients\n", Quota{5, 10 * time.Second}, CountRecipients, ""},
		{"send:\n  daily_limit: 0\n", Quota{}, CountLetters, ""},
		{"send:\n  daily_limit: -3\n", Quota{}, "", `m.yaml:7: send.daily_limit: want a limit like 500 (per 24 hours) or 2000/24h, got "-3"`},
		{"send:\n  daily_limit: 5/fortnight\n", Quota{}, "", `m.yaml:7: send.daily_limit: want a window like 24h`},
		{"send:\n  concurrency: 2\n  daily_limit_counts: messages\n", Quota{}, "", `m.yaml:8: send.daily_limit_counts: must be letters or recipients, got "messages"`},
	}
	for _, tt := range tests {
		c, _, err := load(t, "maildir:\n  path: out\n"+tt.yaml)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.yaml, err)
		case tt.err == "" && (c.Send.DailyLimit != tt.want || c.Send.DailyLimitCounts != tt.counts):
			t.Errorf("%q: daily_limit %v counting %q, want %v counting %q", tt.yaml, c.Send.DailyLimit, c.Send.DailyLimitCounts, tt.want, tt.counts)
		}
	}
}
