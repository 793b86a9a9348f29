package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/time/rate"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

func TestDelivery(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, nil)
	proxyPort, w := startProxy(t, port)
	ls := letters(25)
	ls[3].Recipients = []string{"a@example.com", "b@example.com", "c@example.com"}
	tr := smtpTransport(proxyPort)
	var trace bytes.Buffer
	tr.Trace = NewTrace(&lockedBuffer{b: &trace})
	st, last, err := runPool(t, tr, ls, func(p *Pool) { p.PerSession = 10 })
	if err != nil {
		t.Fatal(err)
	}
	if st.Delivered != 25 || countStates(last)[journal.Delivered] != 25 {
		t.Errorf("%s; journal %v", summary(st), countStates(last))
	}
	arrivedOnce(t, be, 25)
	// 25 letters at 10 per session over 2 workers: at least 3 sessions,
	// and each session's tenth letter carries its QUIT.
	if be.sessions < 3 {
		t.Errorf("%d sessions; PerSession 10 should make at least 3", be.sessions)
	}
	// Which worker takes which letter is the scheduler's choice: a
	// session that sent its ten says QUIT with the tenth, one that ran
	// out of letters says it on its own.
	sessions := sessionsOf(trace.String())
	full := 0
	for _, ss := range sessions {
		if ss.letters == 10 {
			full++
		}
		if ss.quitWithLetter != (ss.letters == 10) {
			t.Errorf("a session of %d letters: QUIT with the last letter %v", ss.letters, ss.quitWithLetter)
		}
	}
	if len(sessions) != be.sessions || full == 0 {
		t.Errorf("%d sessions in the trace, %d at the server, %d of them with ten letters", len(sessions), be.sessions, full)
	}
	wireBytes := w.String()
	if strings.Count(wireBytes, "RCPT TO:") != 27 {
		t.Errorf("%d RCPT commands, want 27 (one per envelope recipient)", strings.Count(wireBytes, "RCPT TO:"))
	}
	// go-smtp's server offers CHUNKING: the letters go with BDAT, as they
	// are (no dot-stuffing), each with its transaction in one flight.
	if strings.Count(wireBytes, "BDAT ") != 25 || strings.Count(wireBytes, "\r\n.\r\n.leading dot") != 25 {
		t.Error("the letters did not go with BDAT, byte for byte")
	}
	if strings.Count(wireBytes, "\n") != strings.Count(wireBytes, "\r\n") || strings.Count(wireBytes, "\r") != strings.Count(wireBytes, "\r\n") {
		t.Error("bare CR or LF on the wire")
	}
	if strings.Contains(wireBytes, "RSET") {
		t.Error("RSET sent after successful transactions")
	}
	if r := last["key0"]; r.Code != 250 || r.Attempt != 1 || r.State != journal.Delivered || r.Line != 2 {
		t.Errorf("record: %+v", r)
	}
}

// TestReplies: how each reply and fault ends up.
func TestReplies(t *testing.T) {
	tests := []struct {
		name     string
		be       *backend
		state    journal.State // of key0
		attempts int           // of key0
		code     int
		enhanced string
		others   journal.State // of the other letters
		sessions int           // at least
		big      bool          // key0 is too big for socket buffers
	}{
		{name: "450 on RCPT twice, then accepted", state: journal.Delivered, attempts: 3, code: 250, others: journal.Delivered,
			be: &backend{rcpt: func(_ *gosmtp.Conn, to string, n int) error {
				if to == "user0@example.com" && n <= 2 {
					return &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 2, 0}, Message: "Mailbox busy"}
				}
				return nil
			}}},
		{name: "451 every time: deferred after max attempts", state: journal.Deferred, attempts: 3, code: 451, enhanced: "4.3.0", others: journal.Delivered,
			be: &backend{rcpt: func(_ *gosmtp.Conn, to string, n int) error {
				if to == "user0@example.com" {
					return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Try later"}
				}
				return nil
			}}},
		{name: "452 then accepted", state: journal.Delivered, attempts: 2, code: 250, others: journal.Delivered,
			be: &backend{rcpt: func(_ *gosmtp.Conn, to string, n int) error {
				if to == "user0@example.com" && n == 1 {
					return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
				}
				return nil
			}}},
		{name: "550 5.1.1 on RCPT: failed, never retried", state: journal.Failed, attempts: 1, code: 550, enhanced: "5.1.1", others: journal.Delivered,
			be: &backend{rcpt: func(_ *gosmtp.Conn, to string, n int) error {
				if to == "user0@example.com" {
					return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
				}
				return nil
			}}},
		{name: "553 on RCPT: failed", state: journal.Failed, attempts: 1, code: 553, enhanced: "5.1.3", others: journal.Delivered,
			be: &backend{rcpt: func(_ *gosmtp.Conn, to string, n int) error {
				if to == "user0@example.com" {
					return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "Bad address syntax"}
				}
				return nil
			}}},
		{name: "552 on RCPT is temporary", state: journal.Delivered, attempts: 2, code: 250, others: journal.Delivered,
			be: &backend{rcpt: func(_ *gosmtp.Conn, to string, n int) error {
				if to == "user0@example.com" && n == 1 {
					return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 5, 3}, Message: "Too many recipients"}
				}
				return nil
			}}},
		{name: "552 after DATA: failed", state: journal.Failed, attempts: 1, code: 552, enhanced: "5.3.4", others: journal.Delivered,
			be: &backend{data: func(_ *gosmtp.Conn, msg []byte, n int) error {
				if bytes.Contains(msg, []byte("To: user0@")) {
					return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
				}
				return nil
			}}},
		{name: "554 after DATA: failed", state: journal.Failed, attempts: 1, code: 554, enhanced: "5.6.0", others: journal.Delivered,
			be: &backend{data: func(_ *gosmtp.Conn, msg []byte, n int) error {
				if bytes.Contains(msg, []byte("To: user0@")) {
					return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "Content rejected"}
				}
				return nil
			}}},
		{name: "mailbox full (5.2.2) is temporary", state: journal.Deferred, attempts: 3, code: 552, enhanced: "5.2.2", others: journal.Delivered,
			be: &backend{data: func(_ *gosmtp.Conn, msg []byte, n int) error {
				if bytes.Contains(msg, []byte("To: user0@")) {
					return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
				}
				return nil
			}}},
		{name: "421 on MAIL, hang up: retried on a fresh session", state: journal.Delivered, attempts: 2, code: 250, others: journal.Delivered, sessions: 3,
			be: func() *backend {
				var once atomic.Bool
				return &backend{rcpt: func(c *gosmtp.Conn, to string, n int) error {
					if to == "user0@example.com" && once.CompareAndSwap(false, true) {
						return hangUp(c, "421 4.3.2 Shutting down")
					}
					return nil
				}}
			}()},
		{name: "connection reset while the body is sent: retried", state: journal.Delivered, attempts: 2, code: 250, others: journal.Delivered, big: true,
			be: func() *backend {
				var once atomic.Bool
				// Only the big letter: a small one may be wholly in the
				// socket buffers before the reset, which is "unknown".
				return &backend{midData: func(c *gosmtp.Conn, rcpts []string) bool {
					return slices.Contains(rcpts, "user0@example.com") && once.CompareAndSwap(false, true)
				}}
			}()},
		{name: "no reply after the final dot: unknown, not resent", state: journal.Unknown, attempts: 1, others: journal.Delivered,
			be: &backend{data: func(c *gosmtp.Conn, msg []byte, n int) error {
				if bytes.Contains(msg, []byte("To: user0@")) {
					return hangUp(c, "")
				}
				return nil
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := startServer(t, tt.be, nil)
			ls := letters(6)
			if tt.big {
				ls[0].Data = append(ls[0].Data, bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n"), 1<<17)...)
			}
			st, last, err := runPool(t, smtpTransport(port), ls, nil)
			if err != nil {
				t.Fatalf("run: %v (%s)", err, summary(st))
			}
			r := last["key0"]
			if tt.state == journal.Delivered && tt.enhanced == "" {
				tt.enhanced = "2.0.0"
			}
			if r.Final() != tt.state || r.Attempt != tt.attempts || r.Code != tt.code || r.Enhanced != tt.enhanced {
				t.Errorf("key0: state %s attempt %d code %d enhanced %q; want %s %d %d %q (%+v)", r.Final(), r.Attempt, r.Code, r.Enhanced, tt.state, tt.attempts, tt.code, tt.enhanced, r)
			}
			for k, r := range last {
				if k != "key0" && r.Final() != tt.others {
					t.Errorf("%s: %s, want %s", k, r.Final(), tt.others)
				}
			}
			if total := st.Delivered + st.Failed + st.Deferred + st.Unknown + st.Untouched; total != 6 {
				t.Errorf("stats add up to %d: %s", total, summary(st))
			}
			if tt.state == journal.Unknown || tt.state == journal.Failed {
				if n := tt.be.rcpts["user0@example.com"]; n != 1 {
					t.Errorf("user0 got %d RCPTs; a %s letter must not be retried", n, tt.state)
				}
			}
			if tt.be.sessions < tt.sessions {
				t.Errorf("%d sessions, want at least %d", tt.be.sessions, tt.sessions)
			}
		})
	}
}

func TestStallAfterDotIsUnknown(t *testing.T) {
	release := make(chan struct{})
	be := &backend{data: func(c *gosmtp.Conn, msg []byte, n int) error {
		if bytes.Contains(msg, []byte("To: user0@")) {
			<-release
		}
		return nil
	}}
	port := startServer(t, be, nil)
	tr := smtpTransport(port)
	tr.DataTimeout = 500 * time.Millisecond // healthy replies come at once; margin for a loaded CI machine
	st, last, err := runPool(t, tr, letters(3), nil)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if r := last["key0"]; r.Final() != journal.Unknown || r.Phase != smtp.PhaseEOD || !strings.Contains(r.Text, "timeout") {
		t.Errorf("key0: %+v", r)
	}
	if st.Unknown != 1 || st.Delivered != 2 {
		t.Errorf("%s", summary(st))
	}
}

func TestResume(t *testing.T) {
	be := &backend{data: func(c *gosmtp.Conn, msg []byte, n int) error {
		if bytes.Contains(msg, []byte("To: user1@")) && n < 3 {
			return hangUp(c, "") // unknown on the first run
		}
		return nil
	}, rcpt: func(_ *gosmtp.Conn, to string, n int) error {
		if to == "user2@example.com" {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		if to == "user3@example.com" && n <= 3 {
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Later"}
		}
		return nil
	}}
	port := startServer(t, be, nil)
	path := filepath.Join(t.TempDir(), "m.journal")
	ls := letters(5)
	st, _, err := runPoolJournal(t, path, smtpTransport(port), ls, func(p *Pool) { p.Concurrency = 1 })
	if err != nil || st.Delivered != 2 || st.Unknown != 1 || st.Failed != 1 || st.Deferred != 1 {
		t.Fatalf("first run: %v, %s", err, summary(st))
	}
	// The re-run sends only the deferred letter: not the delivered, the
	// failed, nor the unknown one.
	st, last, err := runPoolJournal(t, path, smtpTransport(port), ls, func(p *Pool) { p.Concurrency = 1 })
	if err != nil || st.Delivered != 1 || st.Skipped[journal.Delivered] != 2 || st.Skipped[journal.Failed] != 1 || st.Skipped[journal.Unknown] != 1 {
		t.Fatalf("second run: %v, %s, skipped %v", err, summary(st), st.Skipped)
	}
	if r := last["key3"]; r.Final() != journal.Delivered || r.Attempt != 4 {
		t.Errorf("key3: %+v", r)
	}
	// --resend-unknown sends the unknown letter again, same Message-ID.
	st, last, err = runPoolJournal(t, path, smtpTransport(port), ls, func(p *Pool) { p.ResendUnknown = true })
	if err != nil || st.Delivered != 1 || last["key1"].Final() != journal.Delivered {
		t.Fatalf("third run: %v, %s", err, summary(st))
	}
	perKey := map[string]int{}
	for _, m := range be.messages() {
		for _, l := range ls {
			if bytes.Contains(m.data, []byte(l.MessageID)) {
				perKey[keyName(journal.Record{MessageID: l.MessageID})]++
			}
		}
	}
	if perKey["key0"] != 1 || perKey["key4"] != 1 || perKey["key3"] != 1 || perKey["key1"] != 1 || perKey["key2"] != 0 {
		t.Errorf("messages per letter: %v", perKey)
	}
}

func TestPolicyStop(t *testing.T) {
	be := &backend{rcpt: func(_ *gosmtp.Conn, to string, n int) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Sending denied by policy"}
	}}
	port := startServer(t, be, nil)
	st, last, err := runPool(t, smtpTransport(port), letters(40), func(p *Pool) { p.Concurrency = 1; p.PolicyStop = 4 })
	var re *RunError
	if !errors.As(err, &re) || re.Kind != ErrPolicy || !strings.Contains(re.Error(), "5.7.1") {
		t.Fatalf("err = %v", err)
	}
	if st.Failed != 4 || st.Untouched != 36 || len(last) != 4 {
		t.Errorf("%s; %d letters in the journal", summary(st), len(last))
	}
}

func TestAuthAndTLS(t *testing.T) {
	serverTLS, pool := testCA(t)
	tests := []struct {
		name      string
		tls       bool // server offers STARTTLS
		implicit  bool // server speaks TLS at once
		security  smtp.Security
		trust     bool
		pass      string
		login     bool         // the server offers AUTH LOGIN only
		kind      RunErrorKind // 0: success
		delivered int
		auths     int
	}{
		{name: "STARTTLS and AUTH PLAIN", tls: true, security: smtp.StartTLS, trust: true, pass: "s3cret-pw", delivered: 3, auths: 2},
		{name: "STARTTLS and AUTH LOGIN", tls: true, security: smtp.StartTLS, trust: true, pass: "s3cret-pw", login: true, delivered: 3, auths: 2},
		{name: "AUTH LOGIN, wrong password", tls: true, security: smtp.StartTLS, trust: true, pass: "wrong-pw", login: true, kind: ErrAuth, auths: 1},
		{name: "implicit TLS and AUTH PLAIN", tls: true, implicit: true, security: smtp.TLS, trust: true, pass: "s3cret-pw", delivered: 3, auths: 2},
		{name: "implicit TLS, untrusted certificate", tls: true, implicit: true, security: smtp.TLS, trust: false, pass: "s3cret-pw", kind: ErrTLS},
		{name: "535: stop, no retry", tls: true, security: smtp.StartTLS, trust: true, pass: "wrong-pw", kind: ErrAuth, auths: 1},
		{name: "STARTTLS not offered: no credentials sent", tls: false, security: smtp.StartTLS, trust: true, pass: "s3cret-pw", kind: ErrTLS},
		{name: "untrusted certificate", tls: true, security: smtp.StartTLS, trust: false, pass: "s3cret-pw", kind: ErrTLS},
		{name: "no AUTH over plain text", tls: true, security: smtp.Plain, trust: true, pass: "s3cret-pw", kind: ErrTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{user: "me", pass: "s3cret-pw"}
			if tt.login {
				be.mechs = []string{sasl.Login}
			}
			var stls *tls.Config
			if tt.tls {
				stls = serverTLS
			}
			port := startServerOn(t, be, stls, tt.implicit)
			proxyPort, w := startProxy(t, port)
			var trace bytes.Buffer
			tr := smtpTransport(proxyPort)
			tr.Security, tr.Username, tr.Password = tt.security, "me", tt.pass
			tr.Trace = NewTrace(&lockedBuffer{b: &trace})
			tr.TLSConfig = &tls.Config{ServerName: "localhost"}
			if tt.trust {
				tr.TLSConfig.RootCAs = pool
			}
			st, _, err := runPool(t, tr, letters(3), nil)
			var re *RunError
			switch {
			case tt.kind == 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tt.kind != 0 && (!errors.As(err, &re) || re.Kind != tt.kind):
				t.Fatalf("err = %v, want kind %d", err, tt.kind)
			}
			if st.Delivered != tt.delivered || be.auths != tt.auths {
				t.Errorf("delivered %d, auths %d; want %d, %d", st.Delivered, be.auths, tt.delivered, tt.auths)
			}
			// The password, base64 of "\0me\0s3cret-pw" (PLAIN) and of
			// "s3cret-pw" and "wrong-pw" (LOGIN).
			for _, secret := range []string{tt.pass, "AG1lAHMzY3JldC1wdw", "czNjcmV0LXB3", "d3JvbmctcHc"} {
				if strings.Contains(trace.String(), secret) {
					t.Errorf("trace contains %q:\n%s", secret, trace.String())
				}
			}
			if tt.security == smtp.Plain && strings.Contains(w.String(), "AUTH") {
				t.Error("AUTH sent over plain text")
			}
			if tt.kind == ErrTLS && strings.Contains(w.String(), "AUTH") {
				t.Error("AUTH sent although TLS failed")
			}
			if tt.delivered > 0 {
				tr := trace.String()
				auth := "C: AUTH PLAIN ****"
				if tt.login {
					auth = "C: AUTH LOGIN ****"
				}
				if !strings.Contains(tr, auth) || !strings.Contains(tr, "C: [message: ") || strings.Contains(tr, "Subject: test") {
					t.Errorf("trace:\n%s", tr)
				}
				if !strings.Contains(tr, "* TLS TLS 1.3") {
					t.Errorf("trace has no TLS note:\n%s", tr)
				}
			}
		})
	}
}

// TestDeliveryWithDATA: where the server pipelines but the letters go with
// DATA, each letter's end carries the next letter's envelope in its
// flight, within a session's letters; every letter arrives once, dot
// lines intact.
func TestDeliveryWithDATA(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, nil)
	ls := letters(40)
	ls[3].Recipients = []string{"a@example.com", "b@example.com", "c@example.com"}
	tr := smtpTransport(port)
	tr.NoChunking = true
	var trace bytes.Buffer
	tr.Trace = NewTrace(&lockedBuffer{b: &trace})
	st, last, err := runPool(t, tr, ls, func(p *Pool) { p.PerSession = 10 })
	if err != nil {
		t.Fatal(err)
	}
	if st.Delivered != 40 || countStates(last)[journal.Delivered] != 40 {
		t.Errorf("%s; journal %v", summary(st), countStates(last))
	}
	arrivedOnce(t, be, 40)
	early, own := envelopes(trace.String())
	// A session's first letter sends its own envelope; the others' may
	// ride the end of the letter before, when the worker has one waiting.
	if early == 0 || early+own != 40 || own < be.sessions {
		t.Errorf("%d envelopes with the end of the letter before, %d on their own, %d sessions", early, own, be.sessions)
	}
	if strings.Contains(trace.String(), "RSET") {
		t.Error("RSET sent after successful transactions")
	}
}

// TestOverDATA runs the tests of interrupts, aborts, stops, retries and
// failures again with DATA instead of BDAT, where each letter's end
// carries the next letter's envelope (Tx.Next).
func TestOverDATA(t *testing.T) {
	overDATA = true
	defer func() { overDATA = false }()
	for name, test := range map[string]func(*testing.T){
		"Replies": TestReplies, "StallAfterDotIsUnknown": TestStallAfterDotIsUnknown, "Resume": TestResume,
		"PolicyStop": TestPolicyStop, "JournalFailureStopsBeforeTheDot": TestJournalFailureStopsBeforeTheDot,
		"Interrupt": TestInterrupt, "SMTPUTF8": TestSMTPUTF8, "BodyStall": TestBodyStall, "Abort": TestAbort,
		"RateLimitGatesSending": TestRateLimitGatesSending, "BuildFailure": TestBuildFailure,
		"RecipientsKeepTheirOwnOutcomes": TestRecipientsKeepTheirOwnOutcomes, "DeferredGetsItsAttemptsAgain": TestDeferredGetsItsAttemptsAgain,
		"SizeRefusedBeforeTheBody": TestSizeRefusedBeforeTheBody, "IdleSessionReplaced": TestIdleSessionReplaced,
		"NextIsMadeBeforeTheEOD": TestNextIsMadeBeforeTheEOD, "QuotaLeavesTheRestPending": TestQuotaLeavesTheRestPending,
		"ProviderLoginRefused": TestProviderLoginRefused, "TooManySessions": TestTooManySessions,
	} {
		t.Run(name, test)
	}
}

// TestNextIsMadeBeforeTheEOD: the letter whose envelope goes with the end
// of the one before is made (its attachments read) before that letter's
// eod is durable, never between its eod and its final dot, where a crash
// would leave a letter the server never finished recorded as unknown.
func TestNextIsMadeBeforeTheEOD(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, nil)
	tr := smtpTransport(port)
	tr.NoChunking = true
	var trace bytes.Buffer
	tr.Trace = NewTrace(&lockedBuffer{b: &trace})
	path := filepath.Join(t.TempDir(), "test.journal")
	ls := letters(6)
	data := map[*letter.Letter][]byte{}
	for _, l := range ls {
		data[l.Letter] = l.Data
	}
	var mu sync.Mutex
	var eodWhileMaking []string
	st, _, err := runPoolAt(t, context.Background(), path, tr, ls, func(p *Pool) {
		p.Concurrency = 1
		p.Build = func(_ context.Context, l *letter.Letter) ([]byte, error) {
			last := map[string]journal.State{}
			journal.Read(path, func(r journal.Record) error { last[r.MessageID] = r.State; return nil })
			mu.Lock()
			defer mu.Unlock()
			for id, state := range last {
				if state == journal.EOD {
					eodWhileMaking = append(eodWhileMaking, id)
				}
			}
			return data[l], nil
		}
	})
	if err != nil || st.Delivered != 6 {
		t.Fatalf("%v: %s", err, summary(st))
	}
	if early, _ := envelopes(trace.String()); early == 0 {
		t.Fatal("no envelope went with the end of the letter before")
	}
	if len(eodWhileMaking) > 0 {
		t.Errorf("letters made while %v had a durable eod and no outcome", eodWhileMaking)
	}
}

// arrivedOnce checks that the server got n messages, each once (by
// Message-ID), with their dot lines as written.
func arrivedOnce(t *testing.T, be *backend, n int) {
	t.Helper()
	msgs := be.messages()
	if len(msgs) != n {
		t.Fatalf("server got %d messages, want %d", len(msgs), n)
	}
	seen := map[string]int{}
	for _, m := range msgs {
		id := string(m.data[bytes.Index(m.data, []byte("Message-ID: "))+12:])
		seen[id[:strings.Index(id, "\r\n")]]++
		if !bytes.Contains(m.data, []byte("\r\n.\r\n.leading dot")) {
			t.Errorf("dot lines not restored: %q", m.data)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct Message-IDs", len(seen))
	}
}

// envelopes counts the MAIL commands in a trace that went in the flight
// that ended the letter before, and those that went on their own.
func envelopes(trace string) (early, own int) {
	lastLine := map[string]string{} // session → its previous line
	for _, line := range strings.Split(trace, "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) < 3 {
			continue
		}
		session, text := f[1], f[2]
		if strings.HasPrefix(text, "C: MAIL FROM:") {
			if lastLine[session] == "C: ." {
				early++
			} else {
				own++
			}
		}
		lastLine[session] = text
	}
	return early, own
}

// quits counts the QUITs in a trace that went in the same flight as the
// letter before them (no reply read between), and those sent on their own.
func quits(trace string) (pipelined, alone int) {
	lastLine := map[string]string{} // session → its previous line
	for _, line := range strings.Split(trace, "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) < 3 {
			continue
		}
		session, text := f[1], f[2]
		if text == "C: QUIT" {
			if strings.HasPrefix(lastLine[session], "C: ") {
				pipelined++
			} else {
				alone++
			}
		}
		lastLine[session] = text
	}
	return pipelined, alone
}

// traceSession is what a trace says of one session: its letters, and
// whether its QUIT went with the last of them.
type traceSession struct {
	letters        int
	quitWithLetter bool
}

// sessionsOf reads the sessions of a trace: a worker's label ([1]) is
// the same for each session it opens, which starts with "* connect".
func sessionsOf(trace string) []traceSession {
	var out []traceSession
	open := map[string]*traceSession{}
	last := map[string]string{}
	for _, line := range strings.Split(trace, "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) < 3 {
			continue
		}
		worker, text := f[1], f[2]
		switch {
		case strings.HasPrefix(text, "* connect"):
			open[worker] = &traceSession{}
		case strings.HasPrefix(text, "C: MAIL FROM:") && open[worker] != nil:
			open[worker].letters++
		case text == "C: QUIT" && open[worker] != nil:
			ss := open[worker]
			ss.quitWithLetter = strings.HasPrefix(last[worker], "C: ")
			out = append(out, *ss)
			open[worker] = nil
		}
		last[worker] = text
	}
	return out
}

// lockedBuffer is written by the Trace, which serialises its writes.
type lockedBuffer struct{ b *bytes.Buffer }

func (l *lockedBuffer) Write(p []byte) (int, error) { return l.b.Write(p) }

func TestGreeting421MeansUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			fmt.Fprintf(c, "421 4.3.2 Too busy, try later\r\n")
			c.Close()
		}
	}()
	st, last, err := runPool(t, smtpTransport(ln.Addr().(*net.TCPAddr).Port), letters(5), nil)
	var re *RunError
	if !errors.As(err, &re) || re.Kind != ErrUnavailable {
		t.Fatalf("err = %v", err)
	}
	if st.Untouched != 5 || len(last) != 0 {
		t.Errorf("%s; journal %v", summary(st), last)
	}
	if n := conns.Load(); n < 2 || n > 4 {
		t.Errorf("%d connections; want each worker to try OpenTries times", n)
	}
}

func TestJournalFailureStopsBeforeTheDot(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, nil)
	path := filepath.Join(t.TempDir(), "m.journal")
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	j.Close() // every write fails from now on
	p := &Pool{Transport: smtpTransport(port), Journal: j, Concurrency: 1, MaxAttempts: 3, PerSession: 10, Backoff: time.Millisecond, OpenTries: 1}
	ctx := context.Background()
	_, err = run(t, p, ctx, ctx, letters(3))
	var re *RunError
	if !errors.As(err, &re) || re.Kind != ErrJournal {
		t.Fatalf("err = %v", err)
	}
	if n := len(be.messages()); n != 0 {
		t.Errorf("%d messages delivered without a journal", n)
	}
}

func TestInterrupt(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, nil)
	path := filepath.Join(t.TempDir(), "m.journal")
	j, _ := journal.Open(path)
	ctx, cancel := context.WithCancel(context.Background())
	var delivered atomic.Int32
	p := &Pool{Transport: smtpTransport(port), Journal: j, Concurrency: 2, MaxAttempts: 3, PerSession: 100, Backoff: time.Millisecond, OpenTries: 1,
		Progress: func(s Stats) {
			if s.Delivered >= 10 && delivered.CompareAndSwap(0, 1) {
				cancel()
			}
		}}
	st, err := run(t, p, ctx, context.Background(), letters(200))
	j.Close()
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v", err)
	}
	if st.Delivered+st.Untouched != 200 || st.Untouched == 0 {
		t.Errorf("%s", summary(st))
	}
	n := 0
	journal.Read(path, func(r journal.Record) error {
		if r.State == journal.Delivered {
			n++
		}
		return nil
	})
	if n != st.Delivered || len(be.messages()) != st.Delivered {
		t.Errorf("journal has %d delivered, server %d, stats %d", n, len(be.messages()), st.Delivered)
	}
}

func TestSMTPUTF8(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, nil)
	ls := letters(2)
	ls[0].SMTPUTF8 = true
	ls[0].Recipients = []string{"иван@example.com"}
	st, last, err := runPool(t, smtpTransport(port), ls, nil)
	if err != nil || st.Failed != 1 || !strings.Contains(last["key0"].Text, "SMTPUTF8") {
		t.Errorf("%v %s %+v", err, summary(st), last["key0"])
	}
}

// TestBodyStall: a server that stops reading in the middle of the body
// cannot hang a worker: the write deadline ends the attempt, which is
// retried (the server never saw the final dot).
func TestBodyStall(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var once atomic.Bool
	be := &backend{midData: func(c *gosmtp.Conn, _ []string) bool {
		if once.CompareAndSwap(false, true) {
			<-release // stop reading; the client's writes fill the buffers
		}
		return false
	}}
	port := startServer(t, be, nil)
	tr := smtpTransport(port)
	tr.Timeout = 2 * time.Second
	ls := letters(3)
	ls[0].Data = append(ls[0].Data, bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n"), 1<<17)...)
	// On a busy machine a retry of 8 MB may meet the deadline too (a
	// write that waits 2 s for the server to read): attempts enough that
	// the letter goes whatever the load, each of them a stop, not a hang.
	st, last, err := runPool(t, tr, ls, func(p *Pool) { p.Concurrency, p.MaxAttempts = 1, 10 })
	if err != nil {
		t.Fatal(err)
	}
	r := last["key0"]
	if r.Final() != journal.Delivered || r.Attempt < 2 || st.Delivered != 3 || len(be.messages()) != 3 {
		t.Errorf("key0 %+v; %s; the server took %d letters", r, summary(st), len(be.messages()))
	}
}

// TestAbort: cancelling the hard context (a second Ctrl-C) drops the
// transaction in flight. Its state is the point it reached: unknown when
// it waited for the reply to its end (never delivered), deferred before
// its end; either way its words say the user stopped it, not the
// network.
func TestAbort(t *testing.T) {
	for _, tt := range []struct {
		name string
		hold func(be *backend, got chan<- struct{}, release <-chan struct{})
		data bool // DATA, not BDAT: the envelope's replies come before the body
		want journal.State
	}{
		{"waiting for the reply to its end", func(be *backend, got chan<- struct{}, release <-chan struct{}) {
			be.data = func(*gosmtp.Conn, []byte, int) error {
				got <- struct{}{}
				<-release
				return nil
			}
		}, false, journal.Unknown},
		{"before its end", func(be *backend, got chan<- struct{}, release <-chan struct{}) {
			be.rcpt = func(*gosmtp.Conn, string, int) error {
				got <- struct{}{}
				<-release
				return nil
			}
		}, true, journal.Deferred},
	} {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			got := make(chan struct{}, 1)
			be := &backend{}
			tt.hold(be, got, release)
			port := startServer(t, be, nil)
			path := filepath.Join(t.TempDir(), "m.journal")
			j, _ := journal.Open(path)
			hard, abort := context.WithCancel(context.Background())
			go func() { <-got; abort() }()
			tr := smtpTransport(port)
			tr.NoChunking = tt.data
			p := &Pool{Transport: tr, Journal: j, Concurrency: 1, MaxAttempts: 3, PerSession: 10, Backoff: time.Millisecond, OpenTries: 1}
			st, _ := run(t, p, hard, hard, letters(5))
			j.Close()
			last := map[string]journal.Record{}
			eod := false
			journal.Read(path, func(r journal.Record) error {
				last[keyName(r)] = r
				eod = eod || r.State == journal.EOD && keyName(r) == "key0"
				return nil
			})
			r := last["key0"]
			if r.Final() != tt.want || r.Text != journal.Stopped || eod != (tt.want == journal.Unknown) || st.Delivered != 0 || st.Done()+st.Untouched != 5 {
				t.Errorf("key0 %+v (eod recorded: %v); %s", r, eod, summary(st))
			}
		})
	}
}

// TestRateLimitGatesSending: with a budget of 3 letters and no refill,
// exactly 3 are sent; the rest wait until dispatching stops.
func TestRateLimitGatesSending(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once atomic.Bool
	st, _, err := runPoolCtx(t, ctx, smtpTransport(port), letters(10), func(p *Pool) {
		p.Limit = rate.NewLimiter(rate.Every(time.Hour), 3)
		p.Progress = func(s Stats) {
			if s.Delivered == 3 && once.CompareAndSwap(false, true) {
				go func() { time.Sleep(100 * time.Millisecond); cancel() }()
			}
		}
	})
	if !errors.Is(err, ErrInterrupted) || st.Delivered != 3 || st.Untouched != 7 || len(be.messages()) != 3 {
		t.Errorf("%v; %s; server got %d", err, summary(st), len(be.messages()))
	}
}

// TestBuildFailure: a letter is built once, when first sent, and its
// retries reuse the bytes. One that cannot be built (its attachment
// changed after the check) is recorded as deferred with the reason, is not
// retried in this run, and does not stop the others.
func TestBuildFailure(t *testing.T) {
	be := &backend{rcpt: func(_ *gosmtp.Conn, to string, n int) error {
		if to == "user1@example.com" && n == 1 {
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Later"}
		}
		return nil
	}}
	port := startServer(t, be, nil)
	path := filepath.Join(t.TempDir(), "m.journal")
	j, _ := journal.Open(path)
	ls := letters(4)
	data := map[*letter.Letter][]byte{}
	for _, l := range ls {
		data[l.Letter] = l.Data
	}
	var mu sync.Mutex
	builds := map[string]int{}
	p := &Pool{Transport: smtpTransport(port), Journal: j, Concurrency: 2, MaxAttempts: 3, PerSession: 10, Backoff: time.Millisecond, OpenTries: 1,
		Build: func(_ context.Context, l *letter.Letter) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			builds[keyName(journal.Record{MessageID: l.MessageID})]++
			if l.Line == 4 {
				return nil, errors.New("attachment grades.pdf changed after it was checked")
			}
			return data[l], nil
		}}
	st, err := p.Run(context.Background(), context.Background(), func(yield func(*letter.Letter) bool) error {
		for _, l := range ls {
			yield(l.Letter)
		}
		return nil
	})
	j.Close()
	if err != nil || st.Delivered != 3 || st.Deferred != 1 || len(be.messages()) != 3 {
		t.Fatalf("%v %s; server got %d", err, summary(st), len(be.messages()))
	}
	if builds["key0"] != 1 || builds["key1"] != 1 || builds["key2"] != 1 || builds["key3"] != 1 {
		t.Errorf("builds %v: want one per letter, retries included", builds)
	}
	last := map[string]journal.Record{}
	journal.Read(path, func(r journal.Record) error { last[keyName(r)] = r; return nil })
	if r := last["key2"]; r.State != journal.Deferred || r.Phase != PhaseBuild || !strings.Contains(r.Text, "changed after it was checked") || r.Attempt != 0 {
		t.Errorf("key2: %+v", r)
	}
	if r := last["key1"]; r.State != journal.Delivered || r.Attempt != 2 {
		t.Errorf("key1: %+v", r)
	}
}

// TestWrongPasswordTriedOnce: with eight workers, a refused password is
// sent once, never once per worker, however the workers are scheduled.
func TestWrongPasswordTriedOnce(t *testing.T) {
	serverTLS, pool := testCA(t)
	for i := range 20 {
		be := &backend{user: "me", pass: "s3cret-pw"}
		port := startServerOn(t, be, serverTLS, false)
		tr := smtpTransport(port)
		tr.Security, tr.Username, tr.Password = smtp.StartTLS, "me", "wrong-pw"
		tr.TLSConfig = &tls.Config{ServerName: "localhost", RootCAs: pool}
		st, last, err := runPool(t, tr, letters(20), func(p *Pool) { p.Concurrency = 8 })
		var re *RunError
		if !errors.As(err, &re) || re.Kind != ErrAuth || be.auths != 1 || st.Untouched != 20 || len(last) != 0 {
			t.Fatalf("run %d: %v, %d AUTH attempts, %s, %d letters in the journal", i, err, be.auths, summary(st), len(last))
		}
	}
}

// slowOpen is a Transport whose first session opens only when released.
type slowOpen struct {
	Transport
	opening, release chan struct{}
	once             sync.Once
}

func (s *slowOpen) Open(ctx context.Context, n int) (Session, error) {
	s.once.Do(func() { close(s.opening); <-s.release })
	return s.Transport.Open(ctx, n)
}

// TestInterruptWhileOpening: Ctrl-C while the first session is being
// opened (a slow TLS handshake, say) sends nothing: the letter that
// waited for the session was not in flight yet.
func TestInterruptWhileOpening(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, nil)
	tr := &slowOpen{Transport: smtpTransport(port), opening: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-tr.opening
		cancel()
		time.Sleep(20 * time.Millisecond) // the stop reaches the dispatcher and the workers
		close(tr.release)
	}()
	st, last, err := runPoolCtx(t, ctx, tr, letters(5), func(p *Pool) { p.Concurrency = 1 })
	if !errors.Is(err, ErrInterrupted) || st.Untouched != 5 || len(last) != 0 || len(be.messages()) != 0 {
		t.Errorf("%v; %s; journal %v; server got %d", err, summary(st), last, len(be.messages()))
	}
}

// TestRecipientsKeepTheirOwnOutcomes: in a letter to three, one refused
// for good and one for now, the refusals are not hidden by the third's
// delivery: the one refused for now is tried again alone, with the same
// Message-ID, and the letter counts as failed for the one refused for
// good; a re-run sends nothing.
func TestRecipientsKeepTheirOwnOutcomes(t *testing.T) {
	be := &backend{rcpt: func(_ *gosmtp.Conn, to string, n int) error {
		switch {
		case to == "fail@example.com":
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		case to == "later@example.com" && n == 1:
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Later"}
		}
		return nil
	}}
	port := startServer(t, be, nil)
	path := filepath.Join(t.TempDir(), "m.journal")
	ls := letters(2)
	ls[0].Recipients = []string{"user0@example.com", "fail@example.com", "later@example.com"}
	ls[0].Sources = []string{"email", "cc", "cc2"}
	st, last, err := runPoolJournal(t, path, smtpTransport(port), ls, func(p *Pool) { p.Concurrency = 1 })
	if err != nil || st.Failed != 1 || st.Delivered != 1 || st.Deferred != 0 {
		t.Fatalf("%v %s", err, summary(st))
	}
	msgs := be.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3: the letter, its retry to later@ alone, the other letter", len(msgs))
	}
	var retry *received
	for i, m := range msgs {
		if len(m.rcpts) == 1 && m.rcpts[0] == "later@example.com" {
			retry = &msgs[i]
		}
	}
	if retry == nil || !bytes.Contains(retry.data, []byte(ls[0].MessageID)) || be.rcpts["user0@example.com"] != 1 || be.rcpts["fail@example.com"] != 1 {
		t.Errorf("retry %v; RCPTs %v", retry, be.rcpts)
	}
	if r := last["key0"]; !r.Part || r.State != journal.Delivered || r.Attempt != 2 || !slices.Equal(r.Rcpt, []string{"later@example.com"}) {
		t.Errorf("last record %+v", r)
	}
	st, _, err = runPoolJournal(t, path, smtpTransport(port), ls, func(p *Pool) { p.Concurrency = 1 })
	if err != nil || st.Sent() != 0 || st.Skipped[journal.Failed] != 1 || st.Skipped[journal.Delivered] != 1 {
		t.Errorf("re-run: %v %s %v", err, summary(st), st.Skipped)
	}
}

// TestDeferredGetsItsAttemptsAgain: a letter deferred by an earlier run
// gets MaxAttempts attempts in the next run too, not one.
func TestDeferredGetsItsAttemptsAgain(t *testing.T) {
	var fails atomic.Int32
	be := &backend{rcpt: func(_ *gosmtp.Conn, _ string, n int) error {
		if n <= 5 { // 3 in the first run, 2 in the second
			fails.Add(1)
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}}
	port := startServer(t, be, nil)
	path := filepath.Join(t.TempDir(), "test.journal")
	ls := letters(1)
	st, _, _ := runPoolJournal(t, path, smtpTransport(port), ls, nil)
	if st.Deferred != 1 || fails.Load() != 3 {
		t.Fatalf("first run: %s, %d refusals", summary(st), fails.Load())
	}
	st, last, _ := runPoolJournal(t, path, smtpTransport(port), ls, nil)
	if st.Delivered != 1 || last["key0"].Attempt != 6 {
		t.Errorf("second run: %s, attempt %d; want delivered at the sixth attempt, the third of this run", summary(st), last["key0"].Attempt)
	}
}
