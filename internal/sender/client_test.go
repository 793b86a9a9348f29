package sender

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// TestDSNOnTheWire: where the server offers DSN, each letter asks for
// the reports send.dsn names, its key as ENVID, each recipient as ORCPT.
func TestDSNOnTheWire(t *testing.T) {
	be := &backend{server: func(s *gosmtp.Server) { s.EnableDSN = true }}
	port := startServer(t, be, nil)
	proxyPort, w := startProxy(t, port)
	tr := smtpTransport(proxyPort)
	tr.DSN = &smtp.DSN{Notify: []string{"FAILURE", "DELAY"}, Ret: "HDRS"}
	ls := letters(1)
	if _, _, err := runPool(t, tr, ls, nil); err != nil {
		t.Fatal(err)
	}
	wire := w.String()
	key := ls[0].Key.String()
	if !strings.Contains(wire, " RET=HDRS ENVID="+key+"\r\n") || !strings.Contains(wire, "RCPT TO:<"+ls[0].Recipients[0]+"> NOTIFY=FAILURE,DELAY ORCPT=rfc822;"+ls[0].Recipients[0]+"\r\n") {
		t.Errorf("DSN parameters missing:\n%s", wire)
	}
}

// TestEnvID: a letter's ENVID is its key; a test send's is the key and
// ".test", so that a report about the test is never taken for one about
// the letter.
func TestEnvID(t *testing.T) {
	l := &letter.Letter{Key: letter.NewKey("c", []string{"ann@example.com"}, 0)}
	key := l.Key.String()
	for id, want := range map[string]string{
		"<" + key + "@example.org>":      key,
		"<" + key + ".test@example.org>": key + ".test",
		"<other@example.org>":            key,
		"":                               key,
	} {
		l.MessageID = id
		if got := envID(l); got != want {
			t.Errorf("envID with Message-ID %q = %q, want %q", id, got, want)
		}
	}
}

// TestSizeRefusedBeforeTheBody: a letter larger than the server's SIZE
// fails with a clear reason, and nothing of it is sent.
func TestSizeRefusedBeforeTheBody(t *testing.T) {
	be := &backend{server: func(s *gosmtp.Server) { s.MaxMessageBytes = 100 }}
	port := startServer(t, be, nil)
	proxyPort, w := startProxy(t, port)
	st, last, err := runPool(t, smtpTransport(proxyPort), letters(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range last {
		if st.Failed != 1 || r.State != journal.Failed || !strings.Contains(r.Text, "more than the 100 the server takes (SIZE)") {
			t.Errorf("%s; record %+v", summary(st), r)
		}
	}
	if strings.Contains(w.String(), "MAIL FROM") {
		t.Errorf("a transaction began:\n%s", w.String())
	}
}

// TestIdleSessionReplaced: a session idle for longer than idleLimit is
// asked with NOOP before its next letter; one the server has dropped is
// replaced, and the letter goes at its first attempt. Nothing here is
// timed: idleLimit 0 makes every letter after a session's first ask, the
// server drops every session once its letter is counted, and the next
// letter may go only after that (gate).
func TestIdleSessionReplaced(t *testing.T) {
	old := idleLimit
	idleLimit = 0
	t.Cleanup(func() { idleLimit = old })
	be := &backend{}
	port := startServer(t, be, nil)
	g := make(gate, 1)
	g <- struct{}{}
	delivered := 0
	st, last, err := runPool(t, smtpTransport(port), letters(3), func(p *Pool) {
		p.Concurrency = 1
		p.Limit = g
		p.Progress = func(s Stats) {
			if s.Delivered > delivered {
				delivered = s.Delivered
				be.dropAll()
				g <- struct{}{}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Delivered != 3 {
		t.Fatalf("%s", summary(st))
	}
	for _, r := range last {
		if r.Attempt != 1 {
			t.Errorf("%s took %d attempts", keyName(r), r.Attempt)
		}
	}
	if be.sessions != 3 {
		t.Errorf("%d sessions, want 3 (each dropped while idle)", be.sessions)
	}
}

// gate is a Limiter that lets a letter go only when the test puts a token
// in, and never lets one go early. A letter that waits 10 s for its token
// is given up (a test that went wrong fails instead of hanging).
type gate chan struct{}

func (g gate) Wait(ctx context.Context) error {
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("no token in 10 s")
	}
}

func (g gate) Allow() bool { return false }
