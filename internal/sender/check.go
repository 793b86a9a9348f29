package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/smtp"
)

// ServerInfo is what Check learned about an SMTP server.
type ServerInfo struct {
	Addr       string // host:port
	Security   smtp.Security
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
	quick := min(t.Timeout, quickTimeout)
	check := *t
	check.DialTimeout = min(t.DialTimeout, 2*quickTimeout)
	c, raw, err := check.dial(ctx, 0, quick, quick, info)
	if err != nil {
		return info, t.diagnose(ctx, err)
	}
	defer raw.Close()
	c.Quit()
	info.Elapsed = time.Since(start)
	return info, nil
}

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
		re.Hint = t.Hint(ctx, err)
	}
	return re
}

// Hint says what a failure to open a session most likely means, and
// what to change in the config; "" when it cannot tell.
func (t *SMTP) Hint(ctx context.Context, err error) string {
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	var (
		dns     *net.DNSError
		op      *net.OpError
		record  tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		re      *RunError
		reply   *smtp.Reply
	)
	if errors.As(err, &reply) {
		// A provider's reply about the account says best what to do.
		if k := smtp.Recognize(reply.Code, reply.Enhanced, reply.Text); k.Account != smtp.Ordinary {
			return k.Advice()
		}
	}
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
		return "the server refused the username or the password: check smtp.username, and the password in the environment variable MAILMERGE_SMTP_PASSWORD (or the one smtp.password_env names) or in smtp.password_file"
	case errors.As(err, &re) && re.Kind == ErrTLS && re.Phase == smtp.PhaseEHLO:
		return fmt.Sprintf("%s does not offer encryption (STARTTLS), so the password and the letters would cross the network readable: check smtp.port (submission is usually 587 with starttls, or 465 with tls); only for a server inside your network that needs none, set smtp.security: none", addr)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &op) && op.Timeout():
		if t.Security != smtp.TLS && t.speaksTLS(ctx) {
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
