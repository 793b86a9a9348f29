package attachment_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/attachment"
	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// TestSendOpensEachFileTwice sends 40 letters that all attach the same
// syllabus and each its own grade sheet, the way send does (the check of
// every row, then the pool), and counts the opens of every file: each is
// opened once to be checked and once to be sent, whatever the number of
// letters. A second run, with everything delivered, opens each once.
func TestSendOpensEachFileTwice(t *testing.T) {
	const n = 40
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "grades"), 0o755)
	os.WriteFile(filepath.Join(dir, "syllabus.pdf"), []byte("%PDF syllabus"), 0o644)
	var csv strings.Builder
	csv.WriteString("name,email,id\n")
	for i := range n {
		fmt.Fprintf(&csv, "Student %d,s%d@example.edu,s%d\n", i, i, i)
		os.WriteFile(filepath.Join(dir, "grades", fmt.Sprintf("s%d.pdf", i)), []byte(fmt.Sprintf("%%PDF grades %d", i)), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte(csv.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: dept@example.edu\nTo: {{.name}} <{{.email}}>\nSubject: Grades\nAttachment: syllabus.pdf\nAttachment: grades/{{.id}}.pdf\n\nDear {{.name}}\n"), 0o644)
	cfg := &config.Config{File: filepath.Join(dir, "m.yaml"), Template: "letter.txt", Recipients: config.Recipients{File: "people.csv"},
		Maildir: config.Maildir{Path: "outbox"}}
	cfg.Resolve()

	send := func() (campaign.Plan, sender.Stats) {
		j, err := journal.Open(cfg.Send.Journal)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		c := campaign.New(cfg, campaign.Options{OnError: func(err error) { t.Error(err) }})
		p := &sender.Pool{Transport: &sender.Maildir{Path: cfg.Maildir.Path}, Journal: j, Build: c.Build, Concurrency: 4, MaxAttempts: 1, PerSession: 100}
		plan, err := c.Plan(context.Background(), j, campaign.Target{Dest: p.Transport.Destination()})
		if err != nil {
			t.Fatal(err)
		}
		st, err := p.Run(context.Background(), context.Background(), func(yield func(*letter.Letter) bool) error {
			_, err := c.Letters(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
				if !yield(l) {
					return campaign.ErrStop
				}
				return nil
			})
			return err
		})
		if err != nil && !errors.Is(err, campaign.ErrStop) {
			t.Fatal(err)
		}
		return plan, st
	}

	opens := attachment.CountOpens(t)
	plan, st := send()
	if plan.Attachments != 2*n || st.Delivered != n {
		t.Fatalf("plan %+v; delivered %d", plan, st.Delivered)
	}
	got := opens()
	if len(got) != n+1 {
		t.Errorf("%d files opened, want %d", len(got), n+1)
	}
	for path, k := range got {
		if k != 2 {
			t.Errorf("%s opened %d times, want 2", filepath.Base(path), k)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(cfg.Maildir.Path, "new")); len(entries) != n {
		t.Fatalf("%d letters in the Maildir", len(entries))
	}

	opens = attachment.CountOpens(t)
	if _, st := send(); st.Delivered != 0 || st.Skipped[journal.Delivered] != n {
		t.Fatalf("second run: %+v", st)
	}
	for path, k := range opens() {
		if k != 1 {
			t.Errorf("second run: %s opened %d times, want 1 (the check)", filepath.Base(path), k)
		}
	}
}
