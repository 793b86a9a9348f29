package mailing

import (
	"fmt"
	"time"
)

// Pace says the rate so far and the time left at it.
func Pace(done, total int, elapsed time.Duration) string {
	if done == 0 || elapsed < time.Second {
		return ""
	}
	perSec := float64(done) / elapsed.Seconds()
	left := time.Duration(float64(total-done) / perSec * float64(time.Second))
	return fmt.Sprintf(", %.1f/s, about %s left", perSec, left.Round(time.Second))
}
