package pgjournal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

// BenchmarkOpen measures Open of a journal of 30,000 letters (90,000
// records: attempt, eod, delivered), which reads every record into the
// index: from PostgreSQL on loopback; from a file with the snapshot of
// its index that Close leaves; and from a file without one (a replay of
// every line). docs/benchmarks.md has
// the figures: go test -run '^$' -bench Open -benchtime 5x
// ./internal/pgjournal
func BenchmarkOpen(b *testing.B) {
	const letters = 30000
	srv := testpg.Start(b)
	db := pgjournal.DB{URL: srv.NewDB(b), Password: testpg.Password, Campaign: "bench"}
	path := filepath.Join(b.TempDir(), "bench.journal")
	ctx := context.Background()
	pj, err := db.Open(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	fj, err := journal.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range letters {
		name := fmt.Sprintf("p%d@example.com", i)
		r := journal.Record{Time: at, Key: letter.NewKey("bench", []string{name}, 0), Dest: "smtp", Line: i + 2, Rcpt: []string{name}, FP: uint64(i + 1), MessageID: "<" + name + ">", Attempt: 1}
		for _, st := range []journal.State{journal.Attempt, journal.EOD, journal.Delivered} {
			r.State = st
			for _, j := range []interface{ Append(journal.Record) error }{pj, fj} {
				if err := j.Append(r); err != nil {
					b.Fatal(err)
				}
			}
		}
		if i%2000 == 0 {
			pj.Commit(journal.Record{Time: at, Key: r.Key, Dest: "smtp", Rcpt: r.Rcpt, State: journal.Delivered, Attempt: 1, MessageID: r.MessageID})
			fj.Commit(journal.Record{Time: at, Key: r.Key, Dest: "smtp", Rcpt: r.Rcpt, State: journal.Delivered, Attempt: 1, MessageID: r.MessageID})
		}
	}
	if err := pj.Close(); err != nil {
		b.Fatal(err)
	}
	if err := fj.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("postgres", func(b *testing.B) {
		for b.Loop() {
			j, err := db.Open(ctx, nil)
			if err != nil || j.Letters() != letters {
				b.Fatal(err)
			}
			j.Close()
		}
	})
	b.Run("file-replay", func(b *testing.B) {
		for b.Loop() {
			os.Remove(path + ".index")
			j, err := journal.Open(path)
			if err != nil || j.Letters() != letters {
				b.Fatal(err)
			}
			j.Close()
		}
	})
	b.Run("file-snapshot", func(b *testing.B) {
		for b.Loop() {
			j, err := journal.Open(path)
			if err != nil || j.Letters() != letters {
				b.Fatal(err)
			}
			j.Close()
		}
	})
}
