package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// Security is how an SMTP connection is protected.
type Security string

// Security modes.
const (
	StartTLS Security = "starttls" // plain text, then STARTTLS before anything else (port 587)
	TLS      Security = "tls"      // TLS from the first byte (port 465)
	Plain    Security = "none"     // no TLS: loopback or a trusted network only
)

// UnmarshalText reads a security mode, in any case; empty means the
// default, which depends on the port.
func (s *Security) UnmarshalText(text []byte) error {
	switch v := Security(strings.ToLower(strings.TrimSpace(string(text)))); v {
	case StartTLS, TLS, Plain, "":
		*s = v
		return nil
	}
	return fmt.Errorf("must be starttls, tls or none, got %q", text)
}

// SMTP is a Transport to an SMTP submission server.
type SMTP struct {
	Host     string
	Port     int
	Security Security
	// TLSConfig is used for TLS and STARTTLS; ServerName defaults to Host.
	TLSConfig *tls.Config
	Helo      string
	Username  string
	Password  string

	DialTimeout time.Duration
	Timeout     time.Duration // per command, and per write
	DataTimeout time.Duration // for the reply after the final dot

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

// Words says a security mode for people.
func (s Security) Words() string {
	switch s {
	case StartTLS:
		return "STARTTLS"
	case TLS:
		return "TLS"
	case Plain:
		return "unencrypted"
	}
	return string(s)
}

// Destination names the server in the journal: "smtp:host:port".
func (t *SMTP) Destination() string {
	return "smtp:" + net.JoinHostPort(strings.ToLower(t.Host), strconv.Itoa(t.Port))
}

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
	s, err := t.open(ctx, session)
	if err != nil {
		return nil, t.openFailed(ctx, err)
	}
	return s, nil
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
	case errors.As(err, &ce) && ce.phase == PhaseGreeting && errors.Is(err, os.ErrDeadlineExceeded) && t.Security != TLS && t.speaksTLS(ctx):
		return t.diagnose(ctx, &RunError{Kind: ErrTLS, Phase: PhaseGreeting, Text: fmt.Sprintf("%s:%d sent no greeting: it waits for TLS", t.Host, t.Port), Err: err})
	}
	return err
}

func (t *SMTP) open(ctx context.Context, session int) (Session, error) {
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	d := net.Dialer{Timeout: t.DialTimeout}
	t.Trace.Note(session, "connect %s", addr)
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &connError{PhaseConnect, err}
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

	var conn net.Conn = &deadlineConn{Conn: raw, timeout: t.Timeout}
	tlsConfig := t.tlsConfig()
	switch t.Security {
	case TLS:
		tc := tls.Client(conn, tlsConfig)
		if err := t.handshakeWithin(ctx, tc, session, t.Timeout); err != nil {
			return nil, err
		}
		conn = t.Trace.wrap(tc, session)
	case StartTLS:
		tc, err := t.startTLS(ctx, conn, tlsConfig, session, min(t.Timeout, greetingWait), nil)
		if err != nil {
			return nil, err
		}
		conn = &greetedConn{Conn: t.Trace.wrap(tc, session), greeting: []byte("220 resumed after STARTTLS\r\n")}
	default:
		conn = t.Trace.wrap(conn, session)
	}

	c := smtp.NewClient(conn)
	c.CommandTimeout = t.Timeout
	c.SubmissionTimeout = t.DataTimeout
	if err := c.Hello(t.helo()); err != nil {
		return nil, t.openError(PhaseEHLO, err)
	}
	if t.Username != "" {
		// go-smtp cannot see the TLS under the trace wrapper; we know.
		if err := t.auth(c, t.Security == TLS || t.Security == StartTLS); err != nil {
			return nil, err
		}
	}
	utf8, _ := c.Extension("SMTPUTF8")
	ok = true
	return &smtpSession{c: c, conn: raw, utf8: utf8, trace: t.Trace, id: session}, nil
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

// startTLS reads the greeting, says EHLO, and upgrades the connection.
// It is done here rather than by go-smtp so that a server without
// STARTTLS stops the run before anything else is said, and a bad
// certificate fails the handshake here (go-smtp would report it as the
// error of some later command).
func (t *SMTP) startTLS(ctx context.Context, conn net.Conn, cfg *tls.Config, session int, wait time.Duration, info *ServerInfo) (*tls.Conn, error) {
	tp := textproto.NewConn(t.Trace.wrap(conn, session))
	conn.SetDeadline(time.Now().Add(wait))
	_, greeting, err := tp.ReadResponse(220)
	if err != nil {
		return nil, t.openError(PhaseGreeting, protoErr(err))
	}
	conn.SetDeadline(time.Now().Add(t.Timeout))
	ext, err := t.ehlo(tp)
	if err != nil {
		return nil, err
	}
	if info != nil {
		info.Greeting, info.Extensions = greeting, ext
	}
	if !hasExtension(ext, "STARTTLS") {
		return nil, &RunError{Kind: ErrTLS, Phase: PhaseEHLO, Text: fmt.Sprintf("%s does not offer STARTTLS, which smtp.security: starttls requires; nothing was sent, no password either", t.Host)}
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, &connError{PhaseSTARTTLS, err}
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, t.openError(PhaseSTARTTLS, protoErr(err))
	}
	conn.SetDeadline(time.Time{})
	tc := tls.Client(conn, cfg)
	return tc, t.handshakeWithin(ctx, tc, session, t.Timeout)
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
			return &RunError{Kind: ErrTLS, Phase: "TLS", Text: fmt.Sprintf("TLS with %s failed: %v", t.Host, err), Err: err}
		}
		return &connError{"TLS", err}
	}
	st := tc.ConnectionState()
	t.Trace.Note(session, "TLS %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	return nil
}

// auth authenticates, refusing to send credentials in the clear.
func (t *SMTP) auth(c *smtp.Client, encrypted bool) error {
	if !encrypted {
		return &RunError{Kind: ErrTLS, Phase: PhaseAUTH, Text: "refusing to send the password over an unencrypted connection"}
	}
	var mech sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		mech = sasl.NewPlainClient("", t.Username, t.Password)
	case c.SupportsAuth(sasl.Login):
		mech = sasl.NewLoginClient(t.Username, t.Password)
	default:
		return &RunError{Kind: ErrAuth, Phase: PhaseAUTH, Text: fmt.Sprintf("%s offers neither AUTH PLAIN nor LOGIN", t.Host)}
	}
	err := c.Auth(mech)
	if err == nil {
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code/100 == 5 {
		// 535 and friends: never retried, accounts get locked.
		return &RunError{Kind: ErrAuth, Phase: PhaseAUTH, Code: se.Code, Enhanced: enhanced(se), Text: se.Message, Err: err}
	}
	return t.openError(PhaseAUTH, err)
}

// openError classifies a failure while opening a session: replies such as
// 421 and network errors are worth another try later; a 5xx is not.
func (t *SMTP) openError(phase string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code/100 == 5 {
		return &RunError{Kind: ErrUnavailable, Phase: phase, Code: se.Code, Enhanced: enhanced(se), Text: se.Message, Err: err}
	}
	return &connError{phase, err}
}

func protoErr(err error) error {
	var pe *textproto.Error
	if errors.As(err, &pe) {
		return &smtp.SMTPError{Code: pe.Code, Message: pe.Msg}
	}
	return err
}

func hasExtension(exts []string, ext string) bool {
	for _, line := range exts {
		if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// smtpSession is one SMTP connection, used for letter after letter.
type smtpSession struct {
	c     *smtp.Client
	conn  net.Conn
	utf8  bool
	dirty bool // a transaction failed: RSET before the next MAIL
	trace *Trace
	id    int
}

// Send runs one mail transaction. beforeEOD is called when the whole
// message is written and only the final dot is left: it records that
// point durably, and if it fails the dot is never sent.
func (s *smtpSession) Send(ctx context.Context, l *letter.Letter, data []byte, beforeEOD func([]journal.Rejection) error) Result {
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	if s.dirty {
		if err := s.c.Reset(); err != nil {
			r := Classify(PhaseRSET, err)
			r.Outcome, r.Reconnect = Temporary, true
			return r
		}
		s.dirty = false
	}
	if l.SMTPUTF8 && !s.utf8 {
		return Result{Outcome: Failed, Phase: PhaseMAIL, Text: "an address is not ASCII and the server does not offer SMTPUTF8"}
	}
	r := s.transaction(l, data, beforeEOD)
	if r.Outcome != Delivered {
		s.dirty = true
	}
	return r
}

func (s *smtpSession) transaction(l *letter.Letter, data []byte, beforeEOD func([]journal.Rejection) error) Result {
	if err := s.c.Mail(l.From, &smtp.MailOptions{Size: int64(len(data)), UTF8: l.SMTPUTF8}); err != nil {
		return Classify(PhaseMAIL, err)
	}
	// Each recipient the server refuses keeps its own outcome; the others
	// share the transaction's.
	var rejected []Result
	var rejections []journal.Rejection
	done := func(r Result) Result {
		r.Rejected = rejections
		return r
	}
	for _, rcpt := range l.Recipients {
		err := s.c.Rcpt(rcpt, nil)
		if err == nil {
			continue
		}
		r := Classify(PhaseRCPT, err)
		if r.Reconnect {
			return r
		}
		state := journal.Failed
		if r.Outcome == Temporary {
			state = journal.Deferred
		}
		rejected = append(rejected, r)
		rejections = append(rejections, journal.Rejection{Rcpt: rcpt, State: state, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text})
	}
	if len(rejected) == len(l.Recipients) {
		// Nobody accepted: the transaction's outcome is the mildest
		// refusal; each recipient keeps its own.
		mildest := rejected[0]
		for _, r := range rejected[1:] {
			if r.Outcome == Temporary {
				mildest = r
			}
		}
		return done(mildest)
	}
	w, err := s.c.Data()
	if err != nil {
		return done(Classify(PhaseDATA, err))
	}
	if _, err := w.Write(data); err != nil {
		return done(Classify(PhaseBody, err))
	}
	if err := beforeEOD(rejections); err != nil {
		s.conn.Close() // the final dot must not go out unrecorded
		return Result{Outcome: Temporary, Phase: PhaseBody, Reconnect: true, Text: "not sent: " + err.Error(),
			Stop: &RunError{Kind: ErrJournal, Text: err.Error(), Err: err}}
	}
	resp, err := w.CloseWithResponse()
	r := Classify(PhaseEOD, err)
	if err == nil {
		r.Code, r.Text = 250, resp.StatusText
		r.Enhanced = leadingEnhanced(resp.StatusText)
	}
	return done(r)
}

// abort drops the connection without QUIT.
func (s *smtpSession) abort() { s.c.Close() }

// Close ends the session politely.
func (s *smtpSession) Close() error {
	err := s.c.Quit()
	s.c.Close()
	return err
}

// leadingEnhanced finds "2.0.0" at the start of a reply text; go-smtp keeps
// it in the text for 2xx replies.
func leadingEnhanced(text string) string {
	f, _, _ := strings.Cut(text, " ")
	if parts := strings.Split(f, "."); len(parts) == 3 {
		for _, p := range parts {
			if _, err := strconv.Atoi(p); err != nil {
				return ""
			}
		}
		return f
	}
	return ""
}
