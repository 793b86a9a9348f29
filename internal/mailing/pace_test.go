package mailing

import (
	"testing"
	"time"
)

func TestRate(t *testing.T) {
	for _, tt := range []struct {
		done    int
		elapsed time.Duration
		want    string
	}{
		{0, time.Minute, ""},
		{5, 500 * time.Millisecond, ""},
		{1, time.Second, ", 60 letters/min"},
		{3, 2 * time.Second, ", 90 letters/min"},
		{120, 10 * time.Second, ", 12 letters/s"},
		{10, time.Second, ", 10 letters/s"},
		{1, time.Hour, ", 1 letter/h"},
		{10, time.Minute, ", 10 letters/min"},
		{1, 6 * time.Minute, ", 10 letters/h"},
		{1, 7 * time.Minute, ", 9 letters/h"},
	} {
		if got := Rate(tt.done, tt.elapsed); got != tt.want {
			t.Errorf("Rate(%d, %s) = %q, want %q", tt.done, tt.elapsed, got, tt.want)
		}
	}
}
