package mailing

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// deferringServer starts an SMTP server on loopback for the test, and
// returns its port. It accepts every letter but those to recipients
// whose local part starts with:
//
//	later-  451 4.3.0 at RCPT, every time
//	soon-   451 4.3.0 at RCPT the first two times, accepted after
//	fail-   550 5.1.1 at RCPT
func deferringServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(&deferring{tries: map[string]int{}})
	s.Domain = "mx.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

type deferring struct {
	mu    sync.Mutex
	tries map[string]int
}

func (b *deferring) NewSession(*smtp.Conn) (smtp.Session, error) { return &deferringSession{b: b}, nil }

type deferringSession struct{ b *deferring }

func (s *deferringSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *deferringSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.tries[to]++
	later := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	switch {
	case strings.HasPrefix(to, "later-"), strings.HasPrefix(to, "soon-") && s.b.tries[to] <= 2:
		return later
	case strings.HasPrefix(to, "fail-"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	return nil
}

func (s *deferringSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func (s *deferringSession) Reset()        {}
func (s *deferringSession) Logout() error { return nil }
