package mailing

import (
	"fmt"
	"math"
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

// Rate says the rate so far in words, as ", 12 letters/s" (per minute or
// per hour when slower, so that the number says something), or "" too
// early to tell.
func Rate(done int, elapsed time.Duration) string {
	if done == 0 || elapsed < time.Second {
		return ""
	}
	perSec := float64(done) / elapsed.Seconds()
	switch {
	case perSec >= 10:
		return ", " + Plural(int(math.Round(perSec)), "letter") + "/s"
	case perSec*60 >= 10:
		return ", " + Plural(int(math.Round(perSec*60)), "letter") + "/min"
	}
	return ", " + Plural(int(math.Round(perSec*3600)), "letter") + "/h"
}
