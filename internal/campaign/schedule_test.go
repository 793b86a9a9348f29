package campaign

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/sender"
)

var msk = time.FixedZone("MSK", 3*60*60)

// mskClock is a clock in Moscow time, where the fixtures' send times
// without an offset are read.
func mskClock() time.Time { return time.Date(2026, 12, 7, 10, 0, 0, 0, msk) }

// TestSendAfter: recipients.send_after gives each letter its row's send
// time, read in the clock's zone unless the cell has an offset; an empty
// cell holds nothing; a grouped letter waits for the latest of its rows;
// a cell that is not a time makes its row invalid, located at the cell.
func TestSendAfter(t *testing.T) {
	const tmpl = "From: s@example.com\nTo: {{.email}}\n\nHi\n"
	csv := "email,when\n" +
		"a@example.com,\n" +
		"b@example.com,2026-12-08 09:00\n" +
		"c@example.com,08.12.2026\n" +
		"d@example.com,2026-12-08T09:00:00+05:00\n" +
		"e@example.com,tomorrow\n" +
		"f@example.com,  8.12.2026 18:30 \n"
	cfg := setup(t, tmpl, csv)
	cfg.Recipients.SendAfter = "when"
	var errs []string
	camp := New(cfg, Options{OnError: func(err error) { errs = append(errs, err.Error()) }, Now: mskClock})
	var got []time.Time
	sum, err := camp.Letters(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		got = append(got, l.SendAfter)
		return nil
	})
	if !errors.Is(err, ErrProblems) || sum.Invalid != 1 {
		t.Fatalf("Letters: %v, %+v; want one invalid row", err, sum)
	}
	want := []time.Time{{}, time.Date(2026, 12, 8, 9, 0, 0, 0, msk), time.Date(2026, 12, 8, 0, 0, 0, 0, msk),
		time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC), time.Date(2026, 12, 8, 18, 30, 0, 0, msk)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("send times %v, want %v", got, want)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], `people.csv:6:15: field "when" (recipients.send_after): not a date and time: `) || !strings.Contains(errs[0], `got "tomorrow"`) {
		t.Errorf("errors %q, want the bad cell located", errs)
	}

	// The check finds the same problem.
	errs = nil
	if _, err := New(cfg, Options{OnError: func(err error) { errs = append(errs, err.Error()) }, Now: mskClock}).Check(context.Background(),
		func(*letter.Letter, *recipients.Record) error { return nil }); !errors.Is(err, ErrProblems) || len(errs) != 1 || !strings.HasPrefix(errs[0], "people.csv:6:15:") {
		t.Errorf("check: %v, %q", err, errs)
	}

	// A column the list does not have is the config's problem.
	cfg.Recipients.SendAfter = "send_at"
	errs = nil
	if _, err := New(cfg, Options{OnError: func(err error) { errs = append(errs, err.Error()) }}).Letters(context.Background(),
		func(*letter.Letter, *recipients.Record) error { return nil }); !errors.Is(err, ErrProblems) || len(errs) != 1 ||
		!strings.Contains(errs[0], `recipients.send_after: people.csv has no column "send_at"`) {
		t.Errorf("missing column: %v, %q", err, errs)
	}
}

// TestSendAfterGrouped: a grouped letter shows every row, so it waits for
// the latest of their send times; empty cells hold nothing.
func TestSendAfterGrouped(t *testing.T) {
	const tmpl = "From: s@example.com\nTo: {{.email}}\n\n{{range .Rows}}{{.course}}\n{{end}}"
	cfg := setup(t, tmpl, "email,course,when\n"+
		"a@example.com,Go,2026-12-09 09:00\n"+
		"b@example.com,C,\n"+
		"a@example.com,Rust,2026-12-10 09:00\n"+
		"a@example.com,Zig,\n"+
		"b@example.com,Ada,\n")
	cfg.Recipients.SendAfter, cfg.Recipients.GroupBy = "when", "email"
	var got []time.Time
	if _, err := New(cfg, Options{Now: mskClock}).Letters(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		got = append(got, l.SendAfter)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []time.Time{time.Date(2026, 12, 10, 9, 0, 0, 0, msk), {}}; !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("send times %v, want %v", got, want)
	}
}

// TestPlanHeld: a letter whose send time has not come is held, not due;
// one settled already is not held; a test send holds none.
func TestPlanHeld(t *testing.T) {
	cfg := setup(t, "From: s@example.com\nTo: {{.email}}\n\nHi\n", "email,when\n"+
		"a@example.com,2026-12-07 09:00\n"+ // come
		"b@example.com,2026-12-08 09:00\n"+
		"c@example.com,2026-12-09 09:00\n"+
		"d@example.com,2026-12-09 09:00\n"+ // delivered before
		"e@example.com,\n")
	cfg.Recipients.SendAfter = "when"
	j, err := journal.Open(cfg.Send.Journal)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	outbox := &sender.Maildir{Path: filepath.Join(filepath.Dir(cfg.File), "outbox")}
	camp := New(cfg, Options{Known: j.Known, Now: mskClock})
	camp.Letters(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		if l.Line == 5 {
			j.Commit(journal.Record{Key: l.Key, Dest: outbox.Destination(), Line: l.Line, Rcpt: l.Recipients, Attempt: 1, State: journal.Delivered})
		}
		return nil
	})
	p, err := New(cfg, Options{Known: j.Known, Now: mskClock}).Plan(context.Background(), j, Target{Dest: outbox.Destination(), Now: mskClock()})
	if err != nil || p.ToSend != 2 || p.Held != 2 || !p.HeldFirst.Equal(time.Date(2026, 12, 8, 9, 0, 0, 0, msk)) || !p.HeldLast.Equal(time.Date(2026, 12, 9, 9, 0, 0, 0, msk)) {
		t.Errorf("plan: %v, to send %d, held %d (%v to %v); want 2 to send, 2 held from 8 Dec 09:00 to 9 Dec 09:00", err, p.ToSend, p.Held, p.HeldFirst, p.HeldLast)
	}
	p, _ = New(cfg, Options{Known: j.Known, Now: mskClock}).Plan(context.Background(), j, Target{Dest: outbox.Destination(), Now: mskClock(), Test: true})
	if p.ToSend != 5 || p.Held != 0 {
		t.Errorf("test send: to send %d, held %d; want 5, 0", p.ToSend, p.Held)
	}
}
