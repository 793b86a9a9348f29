package sender

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

// BenchmarkPoolJournal is BenchmarkPool with each journal: the file and
// PostgreSQL on loopback (a throwaway cluster, fsync on). It reports
// letters per second, the journal's syncs per letter (fsyncs of the
// file, synchronous commits of the database), and its writes per letter
// (the database's transactions; a file's fsyncs again, its writes being
// no round trip). docs/benchmarks.md has the
// figures: go test -run '^$' -bench PoolJournal -benchtime 3000x
// ./internal/sender
func BenchmarkPoolJournal(b *testing.B) {
	port := discardServer(b)
	pg := testpg.Start(b)

	type opened struct {
		j              Journal
		syncs, commits func() int
		close          func() error
	}
	journals := []struct {
		name string
		open func(b *testing.B) opened
	}{
		{"file", func(b *testing.B) opened {
			j, err := journal.Open(filepath.Join(b.TempDir(), "bench.journal"))
			if err != nil {
				b.Fatal(err)
			}
			return opened{j, j.Syncs, j.Syncs, j.Close}
		}},
		{"postgres", func(b *testing.B) opened {
			db := pgjournal.DB{URL: pg.NewDB(b), Password: testpg.Password, Campaign: "bench"}
			j, err := db.Open(context.Background(), nil)
			if err != nil {
				b.Fatal(err)
			}
			return opened{j, j.Syncs, j.Commits, j.Close}
		}},
	}
	for _, jn := range journals {
		for _, c := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("%s/concurrency-%d", jn.name, c), func(b *testing.B) {
				ls := letters(b.N)
				o := jn.open(b)
				defer o.close()
				p := &Pool{Transport: smtpTransport(port), Journal: o.j, Concurrency: c, MaxAttempts: 3, PerSession: 100, Backoff: time.Millisecond, OpenTries: 2}
				b.ResetTimer()
				st, err := run(b, p, context.Background(), context.Background(), ls)
				if err != nil || st.Delivered != b.N {
					b.Fatalf("%v: %s", err, summary(st))
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "letters/s")
				b.ReportMetric(float64(o.syncs())/float64(b.N), "syncs/letter")
				b.ReportMetric(float64(o.commits())/float64(b.N), "writes/letter")
			})
		}
	}
}
