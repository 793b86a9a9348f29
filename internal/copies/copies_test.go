package copies

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// folder is a Sent folder in memory that can fail an append (the real
// one is tested against Dovecot in the CLI's tests).
type folder struct {
	ids      map[string]int
	failFrom int // the append that fails, counting from 1; 0: none
	appends  int
}

func (f *folder) Append(_ context.Context, _ string, data []byte, _ time.Time) error {
	f.appends++
	if f.failFrom > 0 && f.appends >= f.failFrom {
		return errors.New("connection lost")
	}
	f.ids[string(data)]++
	return nil
}

func (f *folder) Has(_ context.Context, _ string, id string) (bool, error) { return f.ids[id] > 0, nil }

func letters(n int) []*letter.Letter {
	var ls []*letter.Letter
	for i := range n {
		rcpt := fmt.Sprintf("s%d@example.com", i)
		l := &letter.Letter{Key: letter.NewKey("c", []string{rcpt}, 0), Recipients: []string{rcpt}}
		l.MessageID = "<" + l.Key.String() + "@example.org>"
		ls = append(ls, l)
	}
	return ls
}

// TestAppendFails: when the folder fails in the middle of a batch, the
// copies saved are recorded as saved, the rest are left to the next run,
// which saves each once.
func TestAppendFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ls := letters(7)
	for _, l := range ls {
		j.Commit(journal.Record{Time: time.Now(), Key: l.Key, Dest: "smtp:mx:25", Rcpt: l.Recipients, MessageID: l.MessageID, Attempt: 1, State: journal.Delivered})
	}
	f := &folder{ids: map[string]int{}, failFrom: 4}
	build := func(l *letter.Letter, _ time.Time) ([]byte, error) { return []byte(l.MessageID), nil }
	save := func() (*Saver, error) {
		cp, err := Read(path, "smtp:mx:25", "Sent")
		if err != nil {
			t.Fatal(err)
		}
		s := &Saver{Copies: cp, Journal: j, Box: f, Build: build, Batch: 5}
		for _, l := range ls {
			if err := s.Add(context.Background(), l); err != nil {
				return s, err
			}
		}
		return s, s.Flush(context.Background())
	}
	s, err := save()
	if err == nil || s.Saved != 3 {
		t.Fatalf("first run: saved %d, err %v; want 3 and the folder's error", s.Saved, err)
	}
	cp, _ := Read(path, "smtp:mx:25", "Sent")
	if cp.Missing() != 4 {
		t.Errorf("after the failure: %d missing, want 4", cp.Missing())
	}
	f.failFrom = 0
	if s, err := save(); err != nil || s.Saved != 4 || s.Found != 0 {
		t.Fatalf("second run: saved %d, found %d, err %v", s.Saved, s.Found, err)
	}
	for _, l := range ls {
		if f.ids[l.MessageID] != 1 {
			t.Errorf("%s saved %d times", l.MessageID, f.ids[l.MessageID])
		}
	}
	if cp, _ := Read(path, "smtp:mx:25", "Sent"); cp.Missing() != 0 {
		t.Errorf("%d missing at the end", cp.Missing())
	}
}
