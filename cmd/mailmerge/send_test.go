package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/sender"
)

func TestWatcherLines(t *testing.T) {
	var b strings.Builder
	wt := newWatcher(watchLines, &b, "people.csv", 10)
	wt.next, wt.start = time.Time{}, time.Now().Add(-2*time.Second)
	wt.progress(sender.Stats{Delivered: 2, Failed: 1, Skipped: map[journal.State]int{journal.Delivered: 3}})
	if want := "mailmerge: 3 of 10 letters (delivered 2, failed 1, deferred 0, unknown 0), 1.5/s, about 5s left\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	wt.progress(sender.Stats{Delivered: 4})
	if b.Len() != 0 {
		t.Errorf("wrote %q before its interval", b.String())
	}

	// One line per recipient that did not get the letter for good; none
	// for a delivery or a deferral.
	wt.record(journal.Record{Line: 3, Rcpt: []string{"a@example.com"}, State: journal.Delivered})
	wt.record(journal.Record{Line: 4, Rcpt: []string{"b@example.com"}, State: journal.Deferred, Phase: "RCPT", Code: 451})
	wt.record(journal.Record{Line: 5, Rcpt: []string{"c@example.com", "boss@example.com"}, State: journal.Delivered,
		Rejected: []journal.Rejection{{Rcpt: "c@example.com", State: journal.Failed, Code: 550, Enhanced: "5.1.1", Text: "5.1.1 No such user"}}})
	wt.record(journal.Record{Line: 6, Rcpt: []string{"d@example.com"}, State: journal.Unknown, Phase: "EOD", Text: "EOF"})
	want := "people.csv:5: failed c@example.com: the address does not exist (no such mailbox) (at RCPT: 550 5.1.1 No such user)\n" +
		"people.csv:6: unknown d@example.com: the connection was lost after the letter was sent; it may have been delivered (at EOD: EOF)\n"
	if b.String() != want {
		t.Errorf("failure lines:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestWatcherSay: a line said while the bar shows (the first Ctrl-C's)
// starts on a line of its own, the bar's cleared first, and the bar is
// drawn again under it; a letter cut off by the second Ctrl-C is said to
// be stopped by the user.
func TestWatcherSay(t *testing.T) {
	var b strings.Builder
	wt := newWatcher(watchBar, &b, "people.csv", 100)
	wt.start = time.Now().Add(-100 * time.Second)
	wt.progress(sender.Stats{Delivered: 20})
	bar := b.String()
	if !strings.Contains(bar, "delivered 20, failed 0, deferred 0, 12 letters/min  20% |") || strings.Contains(bar, "letters/s") {
		t.Fatalf("the bar: %q", bar)
	}
	const stopping = "mailmerge: stopping: letters in flight finish and are recorded; press Ctrl-C again to abort them"
	wt.say(&b, stopping)
	wt.record(journal.Record{Line: 6, Rcpt: []string{"d@example.com"}, State: journal.Unknown, Phase: "EOD", Text: journal.Stopped})
	out := b.String()[len(bar):]
	before, after, ok := strings.Cut(out, stopping+"\n")
	if !ok || !strings.HasSuffix(before, "\r") || strings.Contains(strings.TrimSpace(before), "|") {
		t.Errorf("the line is not on a line of its own, the bar cleared: %q", out)
	}
	if !strings.Contains(after, "20% |") {
		t.Errorf("the bar is not drawn again after the line: %q", after)
	}
	if want := "people.csv:6: unknown d@example.com: stopped by you (a second Ctrl-C) after the letter was sent, before the server said it had it; it may have been delivered (at EOD)\n"; !strings.Contains(after, "\r"+want) {
		t.Errorf("the letter cut off: %q", after)
	}
	wt.finish(sender.Stats{Delivered: 100})
	b.Reset()
	wt.say(&b, "after")
	if b.String() != "after\n" {
		t.Errorf("after the bar ended: %q", b.String())
	}
}

func TestWatcherJSON(t *testing.T) {
	var b strings.Builder
	wt := newWatcher(watchJSON, &b, "people.csv", 2)
	wt.progress(sender.Stats{Delivered: 1})
	wt.record(journal.Record{Line: 2, Rcpt: []string{"a@example.com"}, State: journal.Delivered, Phase: "EOD", Code: 250})
	wt.finish(sender.Stats{Delivered: 1, Letters: 2, Skipped: map[journal.State]int{journal.Delivered: 1}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"msg":"letter","line":2,"rcpt":["a@example.com"],"state":"delivered"`) ||
		!strings.Contains(lines[1], `"msg":"summary","delivered":1,"failed":0,"deferred":0,"unknown":0,"skipped":1,"letters":2`) {
		t.Errorf("JSON:\n%s", b.String())
	}
}

func TestSummaryAddsUp(t *testing.T) {
	var b strings.Builder
	st := sender.Stats{Delivered: 3, Failed: 1, Deferred: 1, Unknown: 1,
		Skipped: map[journal.State]int{journal.Delivered: 2, journal.Unknown: 1}}
	printSendSummary(&b, 10, 2, 0, st, false, "rows")
	want := "delivered 3, failed 1, deferred 1, unknown 1, skipped 4, invalid 2 (of 12)\n" +
		"skipped: 2 delivered by an earlier run; 1 of unknown fate; 1 not sent yet\n"
	if b.String() != want {
		t.Errorf("got:\n%swant:\n%s", b.String(), want)
	}

	// On a terminal, a table; the reasons as before.
	b.Reset()
	printSendSummary(&b, 10, 2, 0, st, true, "rows")
	want = "  delivered       3\n  failed          1\n  deferred        1\n  unknown         1\n  skipped         4\n  invalid         2\n  rows           12\n" +
		"skipped: 2 delivered by an earlier run; 1 of unknown fate; 1 not sent yet\n"
	if b.String() != want {
		t.Errorf("table:\n%swant:\n%s", b.String(), want)
	}

	// With group_by the counts are of letters, a group's rows making one.
	b.Reset()
	printSendSummary(&b, 10, 2, 0, st, false, "letters")
	printSendSummary(&b, 10, 2, 0, st, true, "letters")
	if out := b.String(); !strings.Contains(out, "invalid 2 (of 12 letters)\n") || !strings.Contains(out, "\n  letters        12\n") || strings.Contains(out, "rows") {
		t.Errorf("grouped:\n%s", out)
	}

	// A run the account's quota stopped says so, and when to go on.
	b.Reset()
	st = sender.Stats{Delivered: 3, Deferred: 1, Untouched: 6, Quota: "the account's sending limit is reached: run send again tomorrow"}
	printSendSummary(&b, 10, 0, 0, st, false, "rows")
	want = "delivered 3, failed 0, deferred 1, unknown 0, skipped 6 (of 10)\n" +
		"skipped: 6 not sent yet\n" +
		"stopped: the account's sending limit is reached: run send again tomorrow\n"
	if b.String() != want {
		t.Errorf("quota:\n%swant:\n%s", b.String(), want)
	}
}

// TestSendExit: what is left after a run decides the exit code, and
// letters of unknown fate are explained once, whatever else is left.
func TestSendExit(t *testing.T) {
	cfg := &config.Config{File: "m.yaml"}
	skipped := func(state journal.State, n int) map[journal.State]int { return map[journal.State]int{state: n} }
	tests := []struct {
		name    string
		st      sender.Stats
		code    int
		unknown bool
	}{
		{"all delivered", sender.Stats{Delivered: 3, Skipped: skipped(journal.Delivered, 1)}, exitOK, false},
		{"refused", sender.Stats{Delivered: 3, Failed: 1}, exitSomeFailed, false},
		{"refused and unknown", sender.Stats{Delivered: 2, Failed: 1, Unknown: 1}, exitSomeFailed, true},
		{"deferred", sender.Stats{Delivered: 3, Deferred: 1}, exitRerun, false},
		{"not sent yet, and unknown earlier", sender.Stats{Delivered: 2, Untouched: 1, Skipped: skipped(journal.Unknown, 1)}, exitRerun, true},
		{"only unknown left", sender.Stats{Skipped: map[journal.State]int{journal.Delivered: 2, journal.Unknown: 2}}, exitUnknown, true},
		{"unknown in this run", sender.Stats{Delivered: 3, Unknown: 1}, exitUnknown, true},
	}
	for _, tt := range tests {
		err := mailing.Remaining(tt.st, 4, nil, cfg)
		var b strings.Builder
		if code := exitCode(err, &b); code != tt.code {
			t.Errorf("%s: exit %d, want %d", tt.name, code, tt.code)
		}
		if got := strings.Count(b.String(), "may or may not have arrived"); got != map[bool]int{true: 1}[tt.unknown] {
			t.Errorf("%s: the unknown letters explained %d times:\n%s", tt.name, got, b.String())
		}
		if tt.code == exitUnknown && strings.Contains(b.String(), "again later") {
			t.Errorf("%s: says to run again later with nothing left to send:\n%s", tt.name, b.String())
		}
	}
}
