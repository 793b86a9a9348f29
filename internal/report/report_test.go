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
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: s@example.com\nTo: {{.email}}\nBcc: boss@example.com\nAttachment: {{.file}}\n\nHi\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte("email;file\na@example.com;gone.pdf\nb@example.com;\nc@example.com;\nd@example.com;\ne@example.com;\nf@example.com;\n"), 0o644)
	cfg := &config.Config{File: filepath.Join(dir, "m.yaml"), Template: "letter.txt", Recipients: config.Recipients{File: "people.csv"}}
	cfg.Resolve()
	c := campaign.New(cfg, campaign.Options{})

	var letters []*letter.Letter
	c.Envelopes(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		letters = append(letters, l)
		return nil
	})
	outcome := func(i int, state journal.State) *journal.Outcome {
		rcpt := letters[i].Recipients[0]
		return &journal.Outcome{Last: journal.Record{Key: letters[i].Key, State: state},
			Rcpts: map[string]journal.RcptOutcome{rcpt: {Rcpt: rcpt, State: state}}}
	}
	outcomes := map[letter.Key]*journal.Outcome{
		letters[0].Key: outcome(0, journal.Delivered),
		letters[1].Key: outcome(1, journal.Failed),
		letters[2].Key: outcome(2, journal.Unknown),
		letters[3].Key: outcome(3, journal.Attempt), // tried, not sent
		// letters[4]: never tried
		letters[5].Key: outcome(5, journal.Delivered),
		letter.NewKey("m", []string{"gone@example.com"}, 0): {},
	}
	failed := outcomes[letters[1].Key].Rcpts["b@example.com"]
	failed.Phase, failed.Code, failed.Enhanced, failed.Text = "RCPT", 550, "5.1.1", "5.1.1 No such user"
	outcomes[letters[1].Key].Rcpts["b@example.com"] = failed
	// The instructor's copy of letter 6 was refused.
	outcomes[letters[5].Key].Rcpts["boss@example.com"] = journal.RcptOutcome{Rcpt: "boss@example.com", State: journal.Failed, Phase: "RCPT", Code: 550, Text: "No"}

	h := &journal.History{Outcomes: outcomes, Letters: map[letter.Key]uint64{}}
	for k := range outcomes {
		h.Letters[k] = 0
	}
	rep, sum, err := Make(context.Background(), cfg, campaign.Options{}, h)
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
	if !slices.Equal(lines, []int{3, 4, 5}) || rep.Letters != 6 || rep.Gone != 1 {
		t.Errorf("listed lines %v, letters %d, gone %d", lines, rep.Letters, rep.Gone)
	}
	if l := rep.Listed[0]; l.State != journal.Failed || !slices.Equal(l.Row, []string{"b@example.com", ""}) || Reply(l.Missed[0]) != "the address does not exist (no such mailbox) (at RCPT: 550 5.1.1 No such user)" {
		t.Errorf("failed letter: %+v", l)
	}
	if l := rep.Listed[2]; l.State != NotSent || len(l.Missed) != 1 {
		t.Errorf("a letter tried and not sent: %+v", l)
	}
	if len(rep.Copies) != 1 || rep.Copies[0].Rcpt != "boss@example.com" || rep.Copies[0].Letters != 1 || Reply(rep.Copies[0].RcptOutcome) != "the server refused this address (no such mailbox, or not allowed) (at RCPT: 550 No)" {
		t.Errorf("the template's own recipient: %+v", rep.Copies)
	}
	if got := Reply(outcomes[letters[2].Key].Rcpts["c@example.com"]); got != "the connection was lost after the letter was sent; it may have been delivered" {
		t.Errorf("unknown: %q", got)
	}
	if !slices.Equal(rep.Header, []string{"email", "file"}) {
		t.Errorf("header %q", rep.Header)
	}
}

// TestReplyStopped: a letter the user cut off (a second Ctrl-C) is said
// to be stopped by them, not lost by the network; what its state means
// (it may have arrived, or it was not sent) follows from the point it
// reached.
func TestReplyStopped(t *testing.T) {
	for _, tt := range []struct {
		ro   journal.RcptOutcome
		want string
	}{
		{journal.RcptOutcome{Rcpt: "a@example.com", State: journal.Unknown, Phase: "EOD", Text: journal.Stopped},
			"stopped by you (a second Ctrl-C) after the letter was sent, before the server said it had it; it may have been delivered (at EOD)"},
		{journal.RcptOutcome{Rcpt: "a@example.com", State: journal.Deferred, Phase: "RCPT", Text: journal.Stopped},
			"stopped by you (a second Ctrl-C) before the letter was sent in full; it was not delivered, and send sends it again (at RCPT)"},
		{journal.RcptOutcome{Rcpt: "a@example.com", State: journal.Unknown, Phase: "EOD", Text: "read tcp 127.0.0.1:25: connection reset by peer"},
			"the connection was lost after the letter was sent; it may have been delivered (at EOD: read tcp 127.0.0.1:25: connection reset by peer)"},
	} {
		if got := Reply(tt.ro); got != tt.want {
			t.Errorf("%+v:\n got %s\nwant %s", tt.ro, got, tt.want)
		}
	}
}
