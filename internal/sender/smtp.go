package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/smtp"

	"github.com/mailmerge/mailmerge/internal/bearer"
	"github.com/mailmerge/mailmerge/internal/remote"
)

// SMTP is a Transport to an SMTP submission server.
type SMTP struct {
	Host     string
	Port     int
	Security smtp.Security
	// TLSConfig is used for TLS and STARTTLS; ServerName defaults to Host.
	TLSConfig *tls.Config
	Helo      string
	Username  string
	Password  string
	// Token, when set, logs in with an OAuth2 access token (XOAUTH2 or
	// OAUTHBEARER) instead of Password. It returns the current token;
	// refused is the one the server just refused ("" for none), which it
	// renews once.
	Token func(ctx context.Context, refused string) (string, error)

	DialTimeout time.Duration
	Timeout     time.Duration // per command, and per write
	DataTimeout time.Duration // for the reply after the final dot

	// DSN asks for delivery status notifications (RFC 3461) where the
	// server offers them; nil for none. Each letter's ENVID is its key
	// (envID), each recipient's ORCPT its address, so that a report names
	// the letter and the row.
	DSN *smtp.DSN
	// NoChunking sends with DATA where the server offers CHUNKING too.
	NoChunking bool

	Trace *Trace
}

// Describe names the server for messages.
func (t *SMTP) Describe() string {
	who := "no login"
	if t.Username != "" {
		who = "as " + t.Username
	}
	return fmt.Sprintf("%s, %s, %s", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), t.Security.Words(), who)
}

// Destination names where the letters go in the journal: "smtp", for any
// server. A letter delivered to the organisation's relay is delivered,
// whatever the relay was called (localhost or 127.0.0.1, another port,
// another relay since): it is never sent again because the route changed.
func (t *SMTP) Destination() string { return journal.SMTP }

// connError is a failure to open a session that another try may not have.
type connError struct {
	phase string
	err   error
}

func (e *connError) Error() string { return fmt.Sprintf("%s: %v", e.phase, e.err) }
func (e *connError) Unwrap() error { return e.err }

// Open connects, secures the connection, greets and authenticates. A
// *RunError means no retry can help (TLS, authentication); other errors
// are worth another try.
func (t *SMTP) Open(ctx context.Context, session int) (Session, error) {
	c, raw, err := t.dial(ctx, session, min(t.Timeout, greetingWait), t.Timeout, nil)
	if err != nil {
		return nil, t.openFailed(ctx, err)
	}
	c.NoChunking = t.NoChunking
	_, utf8 := c.Extension("SMTPUTF8")
	return &smtpSession{client: c, conn: raw, utf8: utf8, dsn: t.DSN, last: time.Now()}, nil
}

// greetingWait bounds the wait for a server's greeting: submission
// servers greet at once, and one that says nothing is most often a TLS
// port spoken to in plain text.
const greetingWait = 15 * time.Second

// openFailed gives a run-ending failure its hint, and makes one of a
// greeting that never came when the port turns out to speak TLS: no
// retry can help that, only smtp.security.
func (t *SMTP) openFailed(ctx context.Context, err error) error {
	var re *RunError
	var ce *connError
	switch {
	case errors.As(err, &re):
		return t.diagnose(ctx, err)
	case errors.As(err, &ce) && ce.phase == smtp.PhaseGreeting && errors.Is(err, os.ErrDeadlineExceeded) && t.Security != smtp.TLS && t.speaksTLS(ctx):
		return t.diagnose(ctx, &RunError{Kind: ErrTLS, Phase: smtp.PhaseGreeting, Text: fmt.Sprintf("%s:%d sent no greeting: it waits for TLS", t.Host, t.Port), Err: err})
	}
	return err
}

// dial opens a session: connects, secures the connection (TLS from the
// first byte, or STARTTLS), reads the greeting within greeting, says EHLO
// and logs in. handshake bounds the TLS handshake. info, if not nil,
// learns what the server said. It returns the client and the raw
// connection, whose closing cancels whatever the client waits for.
func (t *SMTP) dial(ctx context.Context, session int, greeting, handshake time.Duration, info *ServerInfo) (*smtp.Client, net.Conn, error) {
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	d := net.Dialer{Timeout: t.DialTimeout}
	t.Trace.Note(session, "connect %s", addr)
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, &connError{smtp.PhaseConnect, err}
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	// Closing the connection is how a blocked command is cancelled.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	var conn net.Conn = raw
	greeted := false
	switch t.Security {
	case smtp.TLS:
		tc := tls.Client(raw, t.tlsConfig())
		if err := t.handshakeWithin(ctx, tc, session, handshake); err != nil {
			return nil, nil, err
		}
		conn = tc
	case smtp.StartTLS:
		tc, err := t.startTLS(ctx, raw, session, greeting, handshake, info)
		if err != nil {
			return nil, nil, err
		}
		conn, greeted = tc, true // after STARTTLS the server greets no more
	}
	if tc, ok := conn.(*tls.Conn); ok && info != nil {
		st := tc.ConnectionState()
		info.TLS = &st
	}
	c := smtp.NewClient(t.Trace.wrap(conn, session, t.Password), t.Timeout, t.DataTimeout)
	if !greeted {
		r, err := c.Greeting(greeting)
		if err != nil {
			return nil, nil, t.openError(smtp.PhaseGreeting, err)
		}
		if info != nil {
			info.Greeting = r.Text
		}
	}
	if err := c.Hello(t.helo()); err != nil {
		return nil, nil, t.openError(smtp.PhaseEHLO, err)
	}
	if info != nil {
		info.Extensions, info.MaxSize, info.Auth = c.Extensions(), c.MaxSize(), c.AuthMechanisms()
	}
	if t.Username != "" {
		if err := t.auth(ctx, c, t.Security == smtp.TLS || t.Security == smtp.StartTLS); err != nil {
			return nil, nil, err
		}
		if info != nil {
			info.User = t.Username
		}
	}
	ok = true
	return c, raw, nil
}

func (t *SMTP) helo() string {
	if t.Helo != "" {
		return t.Helo
	}
	return "localhost"
}

func (t *SMTP) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if t.TLSConfig != nil {
		cfg = t.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = t.Host
	}
	return cfg
}

// startTLS reads the greeting, says EHLO, and upgrades the connection
// (RFC 3207), so that a server without STARTTLS stops the run before
// anything else is said, and a bad certificate fails the handshake here.
func (t *SMTP) startTLS(ctx context.Context, raw net.Conn, session int, greeting, handshake time.Duration, info *ServerInfo) (*tls.Conn, error) {
	c := smtp.NewClient(t.Trace.wrap(raw, session, t.Password), t.Timeout, t.DataTimeout)
	r, err := c.Greeting(greeting)
	if err != nil {
		return nil, t.openError(smtp.PhaseGreeting, err)
	}
	if err := c.Hello(t.helo()); err != nil {
		return nil, t.openError(smtp.PhaseEHLO, err)
	}
	if info != nil {
		info.Greeting = r.Text
	}
	if _, ok := c.Extension("STARTTLS"); !ok {
		return nil, &RunError{Kind: ErrTLS, Phase: smtp.PhaseEHLO, Text: fmt.Sprintf("%s does not offer STARTTLS, which smtp.security: starttls requires; nothing was sent, no password either", t.Host)}
	}
	if err := c.StartTLS(); err != nil {
		return nil, t.openError(smtp.PhaseSTARTTLS, err)
	}
	raw.SetDeadline(time.Time{})
	tc := tls.Client(raw, t.tlsConfig())
	return tc, t.handshakeWithin(ctx, tc, session, handshake)
}

func (t *SMTP) handshakeWithin(ctx context.Context, tc *tls.Conn, session int, timeout time.Duration) error {
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		var (
			verify  *tls.CertificateVerificationError
			unknown x509.UnknownAuthorityError
			host    x509.HostnameError
			alert   tls.AlertError
			record  tls.RecordHeaderError
		)
		if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &alert) || errors.As(err, &record) {
			return &RunError{Kind: ErrTLS, Phase: smtp.PhaseTLS, Text: fmt.Sprintf("TLS with %s failed: %v", t.Host, err), Err: err}
		}
		return &connError{smtp.PhaseTLS, err}
	}
	st := tc.ConnectionState()
	t.Trace.Note(session, "TLS %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	return nil
}

var errNoAuth = errors.New("no AUTH mechanism offered")

// auth authenticates with PLAIN or LOGIN (RFC 4954), or with a token,
// refusing to send credentials in the clear.
func (t *SMTP) auth(ctx context.Context, c *smtp.Client, encrypted bool) error {
	if !encrypted {
		return &RunError{Kind: ErrTLS, Phase: smtp.PhaseAUTH, Text: "refusing to send the password over an unencrypted connection"}
	}
	if t.Token != nil {
		return t.authToken(ctx, c)
	}
	var mech sasl.Client
	switch mechs := c.AuthMechanisms(); {
	case slices.Contains(mechs, sasl.Plain):
		mech = sasl.NewPlainClient("", t.Username, t.Password)
	case slices.Contains(mechs, sasl.Login):
		mech = sasl.NewLoginClient(t.Username, t.Password)
	default:
		return &RunError{Kind: ErrAuth, Phase: smtp.PhaseAUTH, Text: fmt.Sprintf("%s offers neither AUTH PLAIN nor LOGIN", t.Host), Err: errNoAuth}
	}
	err := c.Auth(mech)
	var r *smtp.Reply
	if errors.As(err, &r) {
		r.Text = remote.Hide(r.Text, t.Password) // a server that repeats it
	}
	if errors.As(err, &r) && r.Code/100 == 5 {
		// 535 and friends: never retried, accounts get locked. The
		// providers' own replies say what to change (smtp.Recognize).
		re := &RunError{Kind: ErrAuth, Phase: smtp.PhaseAUTH, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text, Err: err}
		if k := smtp.Recognize(r.Code, r.Enhanced, r.Text); k.Account != smtp.Ordinary {
			re.Hint = k.Advice()
		}
		return re
	}
	if err != nil {
		return t.openError(smtp.PhaseAUTH, err)
	}
	return nil
}

// authToken logs in with an OAuth2 access token. A token the server
// refuses (expired early, or revoked) is renewed once: another refusal
// is the account's, and ends the run.
func (t *SMTP) authToken(ctx context.Context, c *smtp.Client) error {
	mech := bearer.Choose(c.AuthMechanisms())
	if mech == "" {
		return &RunError{Kind: ErrAuth, Phase: smtp.PhaseAUTH, Err: errNoAuth,
			Text: fmt.Sprintf("%s offers no OAuth2 login (neither AUTH XOAUTH2 nor OAUTHBEARER): set smtp.auth: password, or check smtp.host", t.Host)}
	}
	refused := ""
	for {
		token, err := t.Token(ctx, refused)
		if err != nil {
			return &RunError{Kind: ErrAuth, Phase: smtp.PhaseAUTH, Text: err.Error(), Err: err}
		}
		client := bearer.NewClient(mech, t.Username, token, t.Host, t.Port)
		err = c.Auth(client)
		var r *smtp.Reply
		be := bearer.Refused(client)
		if errors.As(err, &r) {
			r.Text = remote.Hide(r.Text, token)
		}
		refusal := err != nil && (errors.As(err, &r) && r.Code/100 == 5 || errors.As(err, &be) || be != nil)
		switch {
		case err == nil:
			return nil
		case refusal && refused == "":
			refused = token // renew it once, on this session
		case refusal && r != nil && r.Code/100 == 5:
			return &RunError{Kind: ErrAuth, Phase: smtp.PhaseAUTH, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text, Err: err}
		case refusal:
			return &RunError{Kind: ErrAuth, Phase: smtp.PhaseAUTH, Text: be.Error(), Err: err}
		default:
			return t.openError(smtp.PhaseAUTH, err)
		}
	}
}

// openError classifies a failure while opening a session: replies such as
// 421 and network errors are worth another try later; a 5xx is not, nor
// a reply that says the account's quota or rate is reached (Google's 454
// 4.7.0 "Too many login attempts": more tries make it worse).
func (t *SMTP) openError(phase string, err error) error {
	var r *smtp.Reply
	if errors.As(err, &r) {
		if k := smtp.Recognize(r.Code, r.Enhanced, r.Text); k.Account.Quota() {
			return &RunError{Kind: ErrQuota, Phase: phase, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text, Err: err, Hint: k.Advice()}
		}
	}
	if errors.As(err, &r) && r.Code/100 == 5 {
		return &RunError{Kind: ErrUnavailable, Phase: phase, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text, Err: err}
	}
	var ioe *smtp.IOError
	if errors.As(err, &ioe) {
		err = ioe.Err
	}
	return &connError{phase, err}
}
