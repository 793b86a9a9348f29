package mailing

import (
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/config"
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
		if got := estimate(tt.run, tt.due, tt.dailyLeft, tt.daily, tt.recipients, tt.rate); got != tt.want {
			t.Errorf("estimate(%d, %d, %d, %v, %v, %v) = %q, want %q", tt.run, tt.due, tt.dailyLeft, tt.daily, tt.recipients, tt.rate, got, tt.want)
		}
	}
}
