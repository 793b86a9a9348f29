package report

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// TestMake joins journal records to the rows that make their letters.
func TestMake(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: s@example.com\nTo: {{.email}}\nAttachment: {{.file}}\n\nHi\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte("email;file\na@example.com;gone.pdf\nb@example.com;\nc@example.com;\nd@example.com;\ne@example.com;\nf@example.com;\n"), 0o644)
	cfg := &config.Config{File: filepath.Join(dir, "m.yaml"), Template: "letter.txt", Recipients: config.Recipients{File: "people.csv"}}
	cfg.Resolve()
	c := campaign.New(cfg, campaign.Options{})

	var letters []*letter.Letter
	c.Envelopes(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		letters = append(letters, l)
		return nil
	})
	rec := func(i int, state journal.State) journal.Record {
		return journal.Record{Key: letters[i].Key, Line: letters[i].Line, Rcpt: letters[i].Recipients, State: state, Attempt: 1}
	}
	last := map[letter.Key]journal.Record{
		letters[0].Key: rec(0, journal.Delivered),
		letters[1].Key: rec(1, journal.Failed),
		letters[2].Key: rec(2, journal.EOD),     // unknown
		letters[3].Key: rec(3, journal.Attempt), // not sent, but tried
		// letters[4]: never tried
		letters[5].Key: rec(5, journal.Delivered),
		letter.NewKey("m", []string{"gone@example.com"}, 0): {State: journal.Delivered},
	}
	failed := last[letters[1].Key]
	failed.Code, failed.Enhanced, failed.Text = 550, "5.1.1", "5.1.1 No such user"
	last[letters[1].Key] = failed
	partly := last[letters[5].Key]
	partly.Rejected = []journal.Rejection{{Rcpt: "x@example.com", Code: 550, Text: "No"}}
	last[letters[5].Key] = partly

	rep, sum, err := Make(context.Background(), c, last)
	if err != nil || sum.Letters != 6 || sum.Delimiter != ';' {
		t.Fatalf("%v %+v", err, sum)
	}
	want := map[journal.State]int{journal.Delivered: 2, journal.Failed: 1, journal.Unknown: 1, NotSent: 2}
	for state, n := range want {
		if rep.Counts[state] != n {
			t.Errorf("%s: %d, want %d (%v)", state, rep.Counts[state], n, rep.Counts)
		}
	}
	var lines []int
	for _, l := range rep.Listed {
		lines = append(lines, l.Line)
	}
	// The attachment of line 2 is gone: a report does not need it.
	if !slices.Equal(lines, []int{3, 4, 5, 7}) || rep.Letters != 6 || rep.Gone != 1 {
		t.Errorf("listed lines %v, letters %d, gone %d", lines, rep.Letters, rep.Gone)
	}
	if l := rep.Listed[0]; !l.Undelivered() || !slices.Equal(l.Row, []string{"b@example.com", ""}) || Reply(l.Record) != "550 5.1.1 No such user" {
		t.Errorf("failed letter: %+v, reply %q", l, Reply(l.Record))
	}
	if l := rep.Listed[3]; l.Undelivered() || Refusal(l.Record.Rejected[0]) != "at RCPT: 550 No" {
		t.Errorf("partly refused letter: %+v", l)
	}
	if got := Reply(last[letters[2].Key]); got != "the connection was lost after the letter was sent; it may have been delivered" {
		t.Errorf("unknown: %q", got)
	}
	if !slices.Equal(rep.Header, []string{"email", "file"}) {
		t.Errorf("header %q", rep.Header)
	}
}
