package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sender"
)

func TestProgressLine(t *testing.T) {
	var b strings.Builder
	p := progressLine(&b, 10, 0)
	p(sender.Stats{Delivered: 2, Failed: 1, Skipped: map[journal.State]int{journal.Delivered: 3}})
	if want := "mailmerge: 6 of 10 letters done (delivered 2, failed 1, deferred 0, unknown 0)\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	quiet := progressLine(&b, 10, time.Hour)
	quiet(sender.Stats{Delivered: 1})
	if b.Len() != 0 {
		t.Errorf("wrote %q before its interval", b.String())
	}
}

func TestSummaryAddsUp(t *testing.T) {
	var b strings.Builder
	printSendSummary(&b, 10, sender.Stats{Delivered: 3, Failed: 1, Deferred: 1, Unknown: 1,
		Skipped: map[journal.State]int{journal.Delivered: 2, journal.Unknown: 1}})
	want := "delivered 3, failed 1, deferred 1, unknown 1, skipped 4 (of 10)\n" +
		"skipped: 2 delivered by an earlier run; 1 of unknown fate (--resend-unknown sends them again); 1 not sent yet\n"
	if b.String() != want {
		t.Errorf("got:\n%swant:\n%s", b.String(), want)
	}
}
