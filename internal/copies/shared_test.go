package copies

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

// lockedFolder is folder for savers in several goroutines.
type lockedFolder struct {
	mu sync.Mutex
	f  folder
}

func (l *lockedFolder) Append(ctx context.Context, name string, data []byte, date time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Append(ctx, name, data, date)
}

func (l *lockedFolder) Has(ctx context.Context, name, id string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Has(ctx, name, id)
}

// TestSharedCopies: two sends of one campaign on a journal in PostgreSQL
// save the Sent copies at once: each copy is saved once, by one of
// them; a send that read the journal before the other saved its copies
// saves none of them again.
func TestSharedCopies(t *testing.T) {
	srv := testpg.Start(t)
	ctx := context.Background()
	const dest = "smtp:mx:25"
	for _, at := range []string{"at once", "one after the other"} {
		t.Run(at, func(t *testing.T) {
			db := pgjournal.DB{URL: srv.NewDB(t), Password: testpg.Password, Campaign: "copies", Lease: time.Minute}
			ja, err := db.Open(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ja.Close()
			jb, err := db.Open(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer jb.Close()
			ls := letters(30)
			for _, l := range ls {
				if err := ja.Commit(journal.Record{Key: l.Key, Dest: dest, Rcpt: l.Recipients, MessageID: l.MessageID, Attempt: 1, State: journal.Delivered}); err != nil {
					t.Fatal(err)
				}
			}
			box := &lockedFolder{f: folder{ids: map[string]int{}}}
			build := func(l *letter.Letter, _ time.Time) ([]byte, error) { return []byte(l.MessageID), nil }
			saver := func(j *pgjournal.Journal) *Saver {
				cp, err := Of(db.Records(ctx), dest, "Sent")
				if err != nil {
					t.Fatal(err)
				}
				return &Saver{Copies: cp, Journal: j, Claims: j, Box: box, Build: build, Batch: 5}
			}
			save := func(s *Saver) {
				for _, l := range ls {
					if err := s.Add(ctx, l); err != nil {
						t.Error(err)
						return
					}
				}
				if err := s.Flush(ctx); err != nil {
					t.Error(err)
				}
			}
			a, b := saver(ja), saver(jb) // both read the journal before either saves
			if at == "at once" {
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); save(a) }()
				go func() { defer wg.Done(); save(b) }()
				wg.Wait()
			} else {
				save(a)
				save(b)
				if b.Saved != 0 {
					t.Errorf("the second send saved %d copies the first had saved", b.Saved)
				}
			}
			if a.Saved+b.Saved != len(ls) {
				t.Errorf("saved %d + %d copies, want %d in all", a.Saved, b.Saved, len(ls))
			}
			for _, l := range ls {
				if n := box.f.ids[l.MessageID]; n != 1 {
					t.Errorf("%s saved %d times", l.MessageID, n)
				}
			}
		})
	}
}
