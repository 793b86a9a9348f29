package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// secondInterrupt returns a context that a second Ctrl-C cancels. The
// first one cancels ctx (main's signal.NotifyContext), which stops
// dispatching and lets letters in flight finish; the second aborts them.
// say writes a line beside the progress bar.
func secondInterrupt(ctx context.Context, say func(string)) (context.Context, context.CancelFunc) {
	hard, abort := context.WithCancel(context.Background())
	go func() {
		select {
		case <-ctx.Done():
		case <-hard.Done():
			return
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM) // before the words that ask for it
		defer signal.Stop(sig)
		say("mailmerge: stopping: letters in flight finish and are recorded; press Ctrl-C again to abort them")
		select {
		case <-sig:
			say("mailmerge: stopping now: the letters in flight are cut off")
			abort()
		case <-hard.Done():
		}
	}()
	return hard, abort
}
