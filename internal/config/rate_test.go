package config

import (
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := map[string]Rate{"": {}, "0": {}, "10/s": {10, time.Second}, "100/min": {100, time.Minute}, " 5 / h ": {5, time.Hour}}
	for in, want := range tests {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"10", "-1/s", "x/s", "10/day", "1.5/s"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) succeeded", in)
		}
	}
}
