package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// secondInterrupt returns a context that a second Ctrl-C cancels. The
// first one cancels ctx (main's signal.NotifyContext), which stops
// dispatching and lets letters in flight finish; the second aborts them.
func secondInterrupt(ctx context.Context, stderr io.Writer) (context.Context, context.CancelFunc) {
	hard, abort := context.WithCancel(context.Background())
	go func() {
		select {
		case <-ctx.Done():
		case <-hard.Done():
			return
		}
		fmt.Fprintln(stderr, "mailmerge: stopping: letters in flight finish and are recorded; press Ctrl-C again to abort them")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sig)
		select {
		case <-sig:
			abort()
		case <-hard.Done():
		}
	}()
	return hard, abort
}
