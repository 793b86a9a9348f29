package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// providerRefusal is a provider's reply about the account, as a test
// server sends it: an SMTPError, or for a 421 the line written before
// the server closes the connection. The texts, and where each was seen:
// internal/smtp/known_test.go.
type providerRefusal struct {
	name   string
	reply  *gosmtp.SMTPError
	hangUp string
	want   string // in the hint: when to run again, or what to change
}

func (p providerRefusal) refuse(c *gosmtp.Conn) error {
	if p.hangUp != "" {
		return hangUp(c, p.hangUp)
	}
	return p.reply
}

var quotaRefusals = []providerRefusal{
	{name: "Microsoft 365 daily quota", want: "tomorrow", reply: &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 2, 0},
		Message: "STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message."}},
	{name: "Google daily limit", want: "tomorrow", reply: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 4, 5},
		Message: "Daily user sending limit exceeded. For more information on Gmail\nsending limits go to\n https://support.google.com/a/answer/166852 d2e1a72fcca58-76e7d551493sm9728466b3a.112 - gsmtp"}},
	{name: "Google rate, connection closed", want: "in an hour",
		hangUp: "421 4.7.0 Try again later, closing connection. (MAIL) d75a77b69052e-4535f85b3d9sm7257481cf.29 - gsmtp"},
	{name: "Mail.ru rate", want: "in an hour", reply: &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.NoEnhancedCode,
		Message: "Ratelimit exceeded for mailbox sender@mail.ru. Try again later."}},
	{name: "rspamd rate", want: "in an hour", reply: &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1},
		Message: `Ratelimit "user" exceeded`}},
}

// TestQuotaLeavesTheRestPending: a server that takes n letters, then
// refuses with a provider's quota reply, at MAIL or at the end of the
// message. Exactly n are delivered; the refused letters are deferred,
// never failed, the rest untouched; the run says when to run again; and
// a second run, the quota passed, sends the rest, each letter once.
func TestQuotaLeavesTheRestPending(t *testing.T) {
	const n, total = 7, 20
	for _, q := range quotaRefusals {
		for _, at := range []string{smtp.PhaseMAIL, smtp.PhaseEOD} {
			t.Run(q.name+" at "+at, func(t *testing.T) {
				var mu sync.Mutex
				taken, refusing := 0, true
				// Where MAIL is refused, one session: with more, a MAIL
				// taken whose letter then waits for a session that the stop
				// ends is never sent, and n is not exact. At the end of the
				// message, three sessions race for the last places.
				concurrency := 1
				be := &backend{}
				if at == smtp.PhaseMAIL {
					be.mail = func(c *gosmtp.Conn, _ string) error {
						mu.Lock()
						defer mu.Unlock()
						if refusing && taken >= n {
							return q.refuse(c)
						}
						taken++
						return nil
					}
				} else {
					concurrency = 3
					be.data = func(c *gosmtp.Conn, _ []byte, _ int) error {
						mu.Lock()
						defer mu.Unlock()
						if refusing && taken >= n {
							return q.refuse(c)
						}
						taken++
						return nil
					}
				}
				port := startServer(t, be, nil)
				path := filepath.Join(t.TempDir(), "m.journal")
				ls := letters(total)
				tune := func(p *Pool) { p.Concurrency = concurrency }

				st, last, err := runPoolJournal(t, path, smtpTransport(port), ls, tune)
				var re *RunError
				if !errors.As(err, &re) || re.Kind != ErrQuota || !strings.Contains(re.Hint, q.want) || st.Quota != re.Hint {
					t.Fatalf("err = %v (%+v); stats say %q", err, re, st.Quota)
				}
				if st.Delivered != n || st.Failed != 0 || st.Unknown != 0 || st.Deferred < 1 || st.Deferred > concurrency || st.Deferred+st.Untouched != total-n {
					t.Errorf("%s; want %d delivered, the rest deferred (1 to %d) or untouched", summary(st), n, concurrency)
				}
				states := countStates(last)
				if states[journal.Delivered] != n || states[journal.Deferred] != st.Deferred || len(last) != n+st.Deferred {
					t.Errorf("journal: %v for %d letters", states, len(last))
				}
				for k, r := range last {
					if r.State == journal.Deferred && (r.Phase != at || !strings.Contains(r.Text, strings.Fields(refusalText(q))[0])) {
						t.Errorf("%s: %+v; want the refusal at %s", k, r, at)
					}
				}

				mu.Lock()
				refusing = false
				mu.Unlock()
				st, _, err = runPoolJournal(t, path, smtpTransport(port), ls, tune)
				if err != nil || st.Delivered != total-n || st.Skipped[journal.Delivered] != n || st.Failed+st.Deferred+st.Unknown+st.Untouched != 0 || st.Quota != "" {
					t.Fatalf("second run: %v, %s, skipped %v", err, summary(st), st.Skipped)
				}
				arrivedOnce(t, be, total)
			})
		}
	}
}

func refusalText(q providerRefusal) string {
	if q.reply != nil {
		return q.reply.Message
	}
	return strings.TrimPrefix(q.hangUp, "421 4.7.0 ")
}

// TestProviderLoginRefused: a provider's refusal of the login, at AUTH
// or at MAIL after it, stops the run at once with what to change; a
// login refused for its rate is tried once, and says when to run again.
// No letter fails for it.
func TestProviderLoginRefused(t *testing.T) {
	serverTLS, pool := testCA(t)
	tests := []struct {
		name     string
		auth     error // AUTH's reply
		mail     error // MAIL's reply, after a login taken
		kind     RunErrorKind
		want     string
		deferred int // at most: the letters in flight when the refusal came; at least one
	}{
		{name: "Microsoft 365 basic authentication retired", kind: ErrAuth, want: "mailmerge login",
			auth: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 30}, Message: "Basic authentication is not supported for Client Submission."}},
		{name: "Microsoft 365 SMTP AUTH off", kind: ErrAuth, want: "Authenticated SMTP",
			auth: &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."}},
		{name: "Google password", kind: ErrAuth, want: "app password",
			auth: &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Username and Password not accepted. Learn more at\n https://support.google.com/mail/?p=BadCredentials i5sm8565805wrv.34 - gsmtp"}},
		{name: "Google 2-Step Verification", kind: ErrAuth, want: "app password",
			auth: &gosmtp.SMTPError{Code: 534, EnhancedCode: gosmtp.EnhancedCode{5, 7, 9}, Message: "Application-specific password required. Learn more at\n https://support.google.com/mail/?p=InvalidSecondFactor o13sm2119833lfg.90 - gsmtp"}},
		{name: "Yandex", kind: ErrAuth, want: "Email clients",
			auth: &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Error: authentication failed: This user does not have access rights to this service"}},
		{name: "Google login rate", kind: ErrQuota, want: "in an hour",
			auth: &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Too many login attempts, please try again later. k3sm123456wrx.1 - gsmtp"}},
		{name: "Microsoft 365 basic authentication retired, at MAIL", kind: ErrAuth, want: "mailmerge login", deferred: 3,
			mail: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 30}, Message: "Basic authentication is not supported for Client Submission."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{user: "me", pass: "s3cret-pw", authErr: tt.auth}
			if tt.mail != nil {
				be.mail = func(*gosmtp.Conn, string) error { return tt.mail }
			}
			port := startServerOn(t, be, serverTLS, false)
			tr := smtpTransport(port)
			tr.Security, tr.Username, tr.Password = smtp.StartTLS, "me", "s3cret-pw"
			tr.TLSConfig = &tls.Config{ServerName: "localhost", RootCAs: pool}
			st, last, err := runPool(t, tr, letters(5), func(p *Pool) { p.Concurrency = 3 })
			var re *RunError
			if !errors.As(err, &re) || re.Kind != tt.kind || !strings.Contains(re.Hint, tt.want) {
				t.Fatalf("err = %v (%+v), want kind %d with %q", err, re, tt.kind, tt.want)
			}
			if be.auths != 1 && tt.auth != nil {
				t.Errorf("%d logins; want one", be.auths)
			}
			if st.Failed != 0 || st.Deferred > tt.deferred || tt.deferred > 0 && st.Deferred == 0 || st.Deferred+st.Untouched != 5 || len(be.messages()) != 0 {
				t.Errorf("%s; %d messages", summary(st), len(be.messages()))
			}
			if countStates(last)[journal.Failed] != 0 || len(last) != st.Deferred {
				t.Errorf("journal: %v", countStates(last))
			}
		})
	}
}

// TestTooManySessions: a server that allows the account two sessions at
// once answers the third's MAIL with Microsoft's thread limit: that
// session ends, its worker leaves, and the others send every letter,
// once. Where no session is left, the run stops: the letters stay due,
// and the hint says to lower send.concurrency.
func TestTooManySessions(t *testing.T) {
	threadLimit := &gosmtp.SMTPError{Code: 432, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2},
		Message: "STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=DM5SPR00MB2471.namprd08.prod.outlook.com]"}
	sessionOf := func(be *backend, c *gosmtp.Conn) int {
		be.mu.Lock()
		defer be.mu.Unlock()
		return slices.Index(be.conns, c)
	}

	t.Run("fewer sessions", func(t *testing.T) {
		be := &backend{}
		be.mail = func(c *gosmtp.Conn, _ string) error {
			if sessionOf(be, c) >= 2 {
				return threadLimit
			}
			return nil
		}
		port := startServer(t, be, nil)
		var logged bytes.Buffer
		st, last, err := runPool(t, smtpTransport(port), letters(20), func(p *Pool) {
			p.Concurrency = 3
			p.Log = slog.New(slog.NewTextHandler(&lockedBuffer{b: &logged}, nil))
		})
		if err != nil || st.Delivered != 20 || countStates(last)[journal.Delivered] != 20 {
			t.Fatalf("%v, %s", err, summary(st))
		}
		arrivedOnce(t, be, 20)
		log := logged.String() // the run is over: nobody writes
		if left := strings.Count(log, "going on with fewer"); be.sessions > 2 && left == 0 || !strings.Contains(log, "send.concurrency") && left > 0 {
			t.Errorf("%d sessions, %d left:\n%s", be.sessions, left, log)
		}
	})

	t.Run("none left", func(t *testing.T) {
		be := &backend{mail: func(*gosmtp.Conn, string) error { return threadLimit }}
		port := startServer(t, be, nil)
		st, last, err := runPool(t, smtpTransport(port), letters(5), func(p *Pool) { p.Concurrency = 1 })
		var re *RunError
		if !errors.As(err, &re) || re.Kind != ErrQuota || !strings.Contains(re.Hint, "send.concurrency") || !strings.Contains(re.Hint, "run send again") {
			t.Fatalf("err = %v (%+v)", err, re)
		}
		if st.Deferred != 1 || st.Untouched != 4 || countStates(last)[journal.Deferred] != 1 || len(last) != 1 {
			t.Errorf("%s; journal %v", summary(st), countStates(last))
		}
	})
}

// TestQuotaStopsOtherSessionsSoftly: a quota reply on one session stops
// dispatching, but a letter another session has in flight is finished
// and recorded, never cut off into an unknown fate.
func TestQuotaStopsOtherSessionsSoftly(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	be := &backend{}
	be.data = func(c *gosmtp.Conn, msg []byte, _ int) error {
		switch {
		case bytes.Contains(msg, []byte("To: user0@")):
			select { // in flight while the quota comes
			case <-release:
			case <-time.After(5 * time.Second):
			}
		case bytes.Contains(msg, []byte("To: user1@")):
			defer once.Do(func() { close(release) })
			return quotaRefusals[0].reply
		}
		return nil
	}
	port := startServer(t, be, nil)
	st, last, err := runPoolCtx(t, context.Background(), smtpTransport(port), letters(2), func(p *Pool) { p.Concurrency = 2 })
	var re *RunError
	if !errors.As(err, &re) || re.Kind != ErrQuota {
		t.Fatalf("err = %v", err)
	}
	if last["key0"].State != journal.Delivered || last["key1"].State != journal.Deferred || st.Unknown != 0 {
		t.Errorf("%s; key0 %s, key1 %s", summary(st), last["key0"].State, last["key1"].State)
	}
}

// TestHintOfAProviderReply: a session that could not be opened for a
// reply about the account gets the provider's words as its hint.
func TestHintOfAProviderReply(t *testing.T) {
	tr := smtpTransport(25)
	err := &connError{smtp.PhaseEHLO, &smtp.Reply{Code: 432, Enhanced: "4.3.2", Text: "STOREDRV.ClientSubmit; sender thread limit exceeded"}}
	if h := tr.Hint(context.Background(), err); !strings.Contains(h, "send.concurrency") {
		t.Errorf("hint %q", h)
	}
	quota := tr.openError(smtp.PhaseEHLO, &smtp.Reply{Code: 421, Enhanced: "4.7.0", Text: "Try again later, closing connection. - gsmtp"})
	var re *RunError
	if !errors.As(quota, &re) || re.Kind != ErrQuota || !strings.Contains(re.Hint, "in an hour") {
		t.Errorf("openError = %v (%+v)", quota, re)
	}
}
