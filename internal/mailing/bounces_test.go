package mailing

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mailmerge/mailmerge/internal/bounce"
	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// TestPlaceNow: the letters bounces recorded are placed on their lines in
// the list as it is now, found by identity: rows added above move them, a
// row removed has no line now, and a list that cannot be read leaves
// every line as sent alone to say.
func TestPlaceNow(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: s@example.com\nTo: {{.name}} <{{.email}}>\n\nHi\n"), 0o644)
	list := filepath.Join(dir, "people.csv")
	os.WriteFile(list, []byte("name,email\nAnn,ann@example.com\nBob,bob@example.com\nCid,cid@example.com\n"), 0o644)
	cfg := &config.Config{File: filepath.Join(dir, "m.yaml"), Campaign: "m", Template: "letter.txt", Recipients: config.Recipients{File: "people.csv"}}
	cfg.Resolve()
	cfg.Send.Journal = filepath.Join(dir, "m.journal")
	j, err := journal.Open(cfg.Send.Journal)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var sent []bounce.Recorded
	campaign.New(cfg, campaign.Options{}).Envelopes(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		j.Commit(journal.Record{Key: l.Key, FP: l.Fingerprint, Made: l.Made, Line: l.Line, Rcpt: l.Recipients, MessageID: l.MessageID, Attempt: 1, State: journal.Delivered})
		sent = append(sent, bounce.Recorded{Match: bounce.Match{Letter: &bounce.Letter{Key: l.Key.String()}, Rcpt: l.Recipients[0]}, Line: l.Line, SentLine: l.Line})
		return nil
	})
	if len(sent) != 3 {
		t.Fatalf("%d letters sent", len(sent))
	}
	// Two rows added above, Bob's removed.
	os.WriteFile(list, []byte("name,email\nNew,new@example.com\n\nAnn,ann@example.com\nCid,cid@example.com\n"), 0o644)
	placeNow(context.Background(), cfg, j, sent)
	for i, want := range []int{4, 0, 5} {
		if sent[i].Line != want || sent[i].SentLine != i+2 {
			t.Errorf("%s: line %d (%d when sent), want %d (%d)", sent[i].Rcpt, sent[i].Line, sent[i].SentLine, want, i+2)
		}
	}
	// A template that cannot be read: no line is known now.
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: s@example.com\nTo: {{.name}\n\nHi\n"), 0o644)
	placeNow(context.Background(), cfg, j, sent)
	for _, rec := range sent {
		if rec.Line != 0 {
			t.Errorf("%s: line %d with a broken template, want 0", rec.Rcpt, rec.Line)
		}
	}
}
