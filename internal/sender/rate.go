package sender

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces the letters of a run, shared by every session. Wait
// waits for a letter's turn; Allow takes a turn only if one is free now
// (a letter whose envelope would go early with the end of the one
// before). *rate.Limiter is one.
type Limiter interface {
	Wait(ctx context.Context) error
	Allow() bool
}

// NewLimiter returns a limiter of n letters per per, shared by every
// session of a run; nil when n is 0 (no limit).
func NewLimiter(n int, per time.Duration) Limiter {
	if n <= 0 || per <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(float64(n)/per.Seconds()), 1)
}
