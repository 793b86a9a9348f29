package mailing

import (
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/config"
)

func TestEstimate(t *testing.T) {
	perMin := func(n int) config.Rate { return config.Rate{N: n, Per: time.Minute} }
	tests := []struct {
		run, due, dailyLeft, daily int
		rate                       config.Rate
		want                       string
	}{
		{1000, 1000, 0, 0, perMin(30), "1,000 letters at 30/min: about 34 min"},
		{500, 2000, 500, 500, perMin(30), "500 letters at 30/min: about 17 min; 2,000 letters, daily_limit 500: 4 days (500 today), re-run send each day"},
		{200, 2000, 200, 500, config.Rate{}, "2,000 letters, daily_limit 500: 5 days (200 today), re-run send each day"},
		{400, 400, 500, 500, perMin(30), "400 letters at 30/min: about 14 min"},
		{10000, 10000, 0, 0, config.Rate{N: 1, Per: time.Second}, "10,000 letters at 1/s: about 2 h 47 min"},
		{100, 1000, 0, 0, perMin(10), "100 letters at 10/min: about 10 min"}, // --limit 100
		{5, 40, 25, 25, perMin(30), ""},       // --limit 5 under the daily limit: no days to say
		{20, 20, 0, 0, perMin(30), ""},        // under a minute
		{1000, 1000, 0, 0, config.Rate{}, ""}, // unlimited
	}
	for _, tt := range tests {
		if got := estimate(tt.run, tt.due, tt.dailyLeft, tt.daily, tt.rate); got != tt.want {
			t.Errorf("estimate(%d, %d, %d, %d, %v) = %q, want %q", tt.run, tt.due, tt.dailyLeft, tt.daily, tt.rate, got, tt.want)
		}
	}
}
