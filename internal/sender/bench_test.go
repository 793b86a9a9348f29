package sender

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// BenchmarkPool measures letters per second through the whole pool (journal
// on disk, two commits a letter) to an in-process go-smtp server that
// accepts everything, at several concurrencies.
func BenchmarkPool(b *testing.B) {
	port := discardServer(b)

	for _, c := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("concurrency-%d", c), func(b *testing.B) {
			ls := letters(b.N)
			j, err := journal.Open(filepath.Join(b.TempDir(), "bench.journal"))
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			p := &Pool{Transport: smtpTransport(port), Journal: j, Concurrency: c, MaxAttempts: 3, PerSession: 100, Backoff: time.Millisecond, OpenTries: 2}
			b.ResetTimer()
			st, err := run(b, p, context.Background(), context.Background(), ls)
			if err != nil || st.Delivered != b.N {
				b.Fatalf("%v: %s", err, summary(st))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "letters/s")
			b.ReportMetric(float64(j.Syncs())/float64(b.N), "fsyncs/letter")
		})
	}
}

// discard is a server session that accepts every letter and keeps none.
type discard struct{}

func (discard) Mail(string, *gosmtp.MailOptions) error { return nil }
func (discard) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (discard) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (discard) Reset()        {}
func (discard) Logout() error { return nil }

// discardServer starts an in-process SMTP server that takes every letter
// and keeps none, for the benchmarks; it stops with b.
func discardServer(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &discard{}, nil }))
	srv.Domain = "bench.test"
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}
