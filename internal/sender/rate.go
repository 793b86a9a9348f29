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

// Both is a limiter that waits for a and then for b: a run's own pace,
// and the account's rate as other processes share it. Either may be nil.
func Both(a, b Limiter) Limiter {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return both{a, b}
}

type both struct{ a, b Limiter }

func (l both) Wait(ctx context.Context) error {
	if err := l.a.Wait(ctx); err != nil {
		return err
	}
	return l.b.Wait(ctx)
}

// Allow reports whether both have room now. When a has and b has not,
// a's turn is spent: the letter waits its turn of both in Wait.
func (l both) Allow() bool { return l.a.Allow() && l.b.Allow() }
