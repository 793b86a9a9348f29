package main

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// TestInterruptWhileWaiting: a real send --wait at send.daily_limit
// 2/4s is interrupted (SIGINT) while it waits for the window: it exits
// 130 from its sleep, having sent the window's letters and no more; the same command
// again goes on and finishes. Every letter arrives once, and no 4
// seconds of the journal hold more than 2 deliveries.
func TestInterruptWhileWaiting(t *testing.T) {
	const n = 6
	bin, cfg, be := realSend(t, "waiting", n, "  daily_limit: 2/4s\n  concurrency: 1\n")

	cmd := exec.Command(bin, "send", "--yes", "--wait", "-c", cfg)
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var said bytes.Buffer
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		said.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "waiting for send.daily_limit") {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	go io.Copy(&said, out)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted while waiting: %v\n%s", err, said.String())
	}
	// It stopped in its sleep: the first window's two letters went, and
	// no more.
	if got := deliveries(t, cfg); len(got) != 2 {
		t.Fatalf("%d letters delivered before the interrupt ended the send; want the window's 2\n%s", len(got), said.String())
	}

	again := exec.Command(bin, "send", "--yes", "--wait", "-c", cfg)
	if b, err := again.CombinedOutput(); err != nil {
		t.Fatalf("the same command again: %v\n%s", err, b)
	}
	times := deliveries(t, cfg)
	for i := range times {
		if i+2 < len(times) && times[i+2].Sub(times[i]) < 4*time.Second {
			t.Errorf("3 deliveries within 4 s: %v, %v, %v", times[i], times[i+1], times[i+2])
		}
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(times) != n || len(be.seen) != n {
		t.Errorf("%d deliveries in the journal, %d letters at the server; want %d", len(times), len(be.seen), n)
	}
	for id, c := range be.seen {
		if c != 1 {
			t.Errorf("%s arrived %d times", id, c)
		}
	}
}

// deliveries lists the times of the deliveries the mailing's journal
// records, oldest first.
func deliveries(t *testing.T, cfg string) []time.Time {
	t.Helper()
	var times []time.Time
	if err := journal.Read(filepath.Join(filepath.Dir(cfg), "waiting.journal"), func(r journal.Record) error {
		if r.State == journal.Delivered {
			times = append(times, r.Time)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	return times
}
