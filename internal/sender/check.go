package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// ServerInfo is what Check learned about an SMTP server.
type ServerInfo struct {
	Addr       string // host:port
	Security   Security
	Greeting   string
	TLS        *tls.ConnectionState // nil without TLS
	Extensions []string             // as the server announced them, after STARTTLS
	MaxSize    int64                // the SIZE limit; 0 if the server names none
	Auth       []string             // the AUTH mechanisms offered
	User       string               // logged in as; empty without AUTH
	Elapsed    time.Duration
}

// quickTimeout bounds each wait of Check: a server that has not greeted
// in this long is not going to, and the user is waiting.
const quickTimeout = 5 * time.Second

// Check opens a session as a send would (connect, TLS or STARTTLS, EHLO,
// AUTH), says QUIT and reports what it learned. It sends no letter. Every
// failure is a *RunError whose Hint says, in plain words, what to change.
func (t *SMTP) Check(ctx context.Context) (*ServerInfo, error) {
	start := time.Now()
	info := &ServerInfo{Addr: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), Security: t.Security}
	fail := func(err error) (*ServerInfo, error) { return info, t.diagnose(ctx, err) }
	quick := min(t.Timeout, quickTimeout)

	d := net.Dialer{Timeout: min(t.DialTimeout, 2*quickTimeout)}
	t.Trace.Note(0, "connect %s", info.Addr)
	raw, err := d.DialContext(ctx, "tcp", info.Addr)
	if err != nil {
		return fail(&connError{PhaseConnect, err})
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	var conn net.Conn = &deadlineConn{Conn: raw, timeout: t.Timeout}
	switch t.Security {
	case TLS:
		tc := tls.Client(conn, t.tlsConfig())
		if err := t.handshakeWithin(ctx, tc, 0, quick); err != nil {
			return fail(err)
		}
		st := tc.ConnectionState()
		info.TLS, conn = &st, tc
	case StartTLS:
		tc, err := t.startTLS(ctx, conn, t.tlsConfig(), 0, quick, info)
		if err != nil {
			return fail(err)
		}
		st := tc.ConnectionState()
		info.TLS, conn = &st, tc
	}
	tp := textproto.NewConn(t.Trace.wrap(conn, 0))
	raw.SetReadDeadline(time.Now().Add(quick))
	if t.Security != StartTLS {
		if _, info.Greeting, err = tp.ReadResponse(220); err != nil {
			return fail(t.openError(PhaseGreeting, protoErr(err)))
		}
	}
	raw.SetReadDeadline(time.Now().Add(t.Timeout))
	if info.Extensions, err = t.ehlo(tp); err != nil {
		return fail(err)
	}
	for _, ext := range info.Extensions {
		name, param, _ := strings.Cut(ext, " ")
		switch strings.ToUpper(name) {
		case "SIZE":
			info.MaxSize, _ = strconv.ParseInt(param, 10, 64)
		case "AUTH":
			info.Auth = strings.Fields(strings.ToUpper(param))
		}
	}
	if t.Username != "" {
		if err := t.login(tp, info); err != nil {
			return fail(err)
		}
		info.User = t.Username
	}
	tp.PrintfLine("QUIT")
	tp.ReadResponse(221)
	info.Elapsed = time.Since(start)
	return info, nil
}

// ehlo says EHLO and returns the extensions the server announces.
func (t *SMTP) ehlo(tp *textproto.Conn) ([]string, error) {
	if err := tp.PrintfLine("EHLO %s", t.helo()); err != nil {
		return nil, &connError{PhaseEHLO, err}
	}
	_, msg, err := tp.ReadResponse(250)
	if err != nil {
		return nil, t.openError(PhaseEHLO, protoErr(err))
	}
	lines := strings.Split(msg, "\n")
	return lines[1:], nil // the first line is the server's name
}

// login authenticates with PLAIN or LOGIN (RFC 4954), over TLS only.
func (t *SMTP) login(tp *textproto.Conn, info *ServerInfo) error {
	if info.TLS == nil {
		return &RunError{Kind: ErrTLS, Phase: PhaseAUTH, Text: "refusing to send the password over an unencrypted connection"}
	}
	var c sasl.Client
	switch {
	case hasMech(info.Auth, sasl.Plain):
		c = sasl.NewPlainClient("", t.Username, t.Password)
	case hasMech(info.Auth, sasl.Login):
		c = sasl.NewLoginClient(t.Username, t.Password)
	default:
		return &RunError{Kind: ErrAuth, Phase: PhaseAUTH, Text: fmt.Sprintf("%s offers neither AUTH PLAIN nor LOGIN", t.Host), Err: errNoAuth}
	}
	mech, ir, err := c.Start()
	if err != nil {
		return err
	}
	line := "AUTH " + mech
	if ir != nil {
		line += " " + base64.StdEncoding.EncodeToString(ir)
	}
	for {
		if err := tp.PrintfLine("%s", line); err != nil {
			return &connError{PhaseAUTH, err}
		}
		code, msg, err := tp.ReadResponse(0)
		if err != nil {
			return &connError{PhaseAUTH, err}
		}
		switch {
		case code == 235:
			return nil
		case code == 334:
			challenge, _ := base64.StdEncoding.DecodeString(msg)
			resp, err := c.Next(challenge)
			if err != nil {
				return err
			}
			line = base64.StdEncoding.EncodeToString(resp)
		default:
			enh := leadingEnhanced(msg)
			re := &RunError{Kind: ErrUnavailable, Phase: PhaseAUTH, Code: code, Enhanced: enh, Text: strings.TrimSpace(strings.TrimPrefix(msg, enh))}
			if code/100 == 5 {
				re.Kind = ErrAuth // 535 and friends: never retried, accounts get locked
			}
			return re
		}
	}
}

func hasMech(mechs []string, m string) bool {
	for _, x := range mechs {
		if strings.EqualFold(x, m) {
			return true
		}
	}
	return false
}

var errNoAuth = errors.New("no AUTH mechanism offered")

// diagnose turns a failure to open a session into a *RunError with a
// hint for people. A server that did not greet is asked whether it
// speaks TLS from the first byte: the usual cause is a port meant for
// the other security mode.
func (t *SMTP) diagnose(ctx context.Context, err error) error {
	var re *RunError
	if !errors.As(err, &re) {
		re = &RunError{Kind: ErrUnavailable, Text: fmt.Sprintf("%s:%d: %v", t.Host, t.Port, err), Err: err}
		var ce *connError
		if errors.As(err, &ce) { // the phase is said once, by the RunError
			re.Phase, re.Text = ce.phase, fmt.Sprintf("%s:%d: %v", t.Host, t.Port, ce.err)
		}
	}
	if re.Hint == "" {
		re.Hint = t.hint(ctx, err)
	}
	return re
}

// hint says what a failure most likely means, and what to change.
func (t *SMTP) hint(ctx context.Context, err error) string {
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	var (
		dns     *net.DNSError
		op      *net.OpError
		record  tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		re      *RunError
	)
	switch {
	case errors.As(err, &dns):
		return fmt.Sprintf("there is no server called %q: check smtp.host", t.Host)
	case errors.As(err, &record):
		if strings.HasPrefix(string(record.RecordHeader[:]), "220") {
			return fmt.Sprintf("%s speaks plain SMTP first, not TLS: set smtp.security: starttls (or check smtp.port: 465 is the TLS port, 587 the STARTTLS one)", addr)
		}
		return fmt.Sprintf("%s does not speak TLS: check smtp.port and smtp.security", addr)
	case errors.As(err, &unknown):
		return "the server's certificate is not signed by an authority this computer trusts; if your organisation has its own, set smtp.ca_file to its certificate (a PEM file)"
	case errors.As(err, &host):
		names := host.Certificate.DNSNames
		if len(names) == 0 {
			names = []string{host.Certificate.Subject.CommonName}
		}
		return fmt.Sprintf("the server's certificate is for %s, not %s: set smtp.server_name to the name on the certificate (or use that name as smtp.host)", strings.Join(names, ", "), host.Host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "the server's certificate has expired: tell the server's administrators"
	case errors.As(err, &re) && re.Kind == ErrAuth && errors.Is(err, errNoAuth):
		return "the server does not offer to log in on this connection: check smtp.port (usually 587 or 465), or leave smtp.username empty if it needs no login"
	case errors.As(err, &re) && re.Kind == ErrAuth:
		return "the server refused the username or the password: check smtp.username, and the password in $" + "MAILMERGE_SMTP_PASSWORD (or smtp.password_env) or smtp.password_file"
	case errors.As(err, &re) && re.Kind == ErrTLS && re.Phase == PhaseEHLO:
		return fmt.Sprintf("%s does not offer encryption (STARTTLS), so the password and the letters would cross the network readable: check smtp.port (submission is usually 587 with starttls, or 465 with tls); only for a server inside your network that needs none, set smtp.security: none", addr)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &op) && op.Timeout():
		if t.Security != TLS && t.speaksTLS(ctx) {
			return fmt.Sprintf("%s speaks TLS from the first byte and waited for it: set smtp.security: tls", addr)
		}
		return fmt.Sprintf("%s did not answer in time: check smtp.host and smtp.port, and whether a firewall lets this computer reach it", addr)
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Sprintf("nothing answers at %s: check smtp.host and smtp.port (submission is usually 587 with starttls, or 465 with tls)", addr)
	}
	return ""
}

// speaksTLS reports whether the server answers a TLS handshake on a
// connection of its own. The certificate is not checked: this only asks
// which language the port speaks, and nothing is sent over it.
func (t *SMTP) speaksTLS(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, min(t.Timeout, quickTimeout))
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, ServerName: t.Host}}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}
