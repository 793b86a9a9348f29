package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/mailmerge/mailmerge/internal/sender"
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

// progressLine returns a Pool.Progress that writes a status line at most
// every interval, so a long send at a polite rate shows it is alive.
func progressLine(w io.Writer, total int, interval time.Duration) func(sender.Stats) {
	var mu sync.Mutex
	next := time.Now().Add(interval)
	return func(st sender.Stats) {
		mu.Lock()
		defer mu.Unlock()
		if time.Now().Before(next) {
			return
		}
		next = time.Now().Add(interval)
		fmt.Fprintf(w, "mailmerge: %d of %d letters done (delivered %d, failed %d, deferred %d, unknown %d)\n",
			st.Done(), total, st.Delivered, st.Failed, st.Deferred, st.Unknown)
	}
}
