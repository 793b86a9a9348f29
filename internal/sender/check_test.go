package sender

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailmerge/mailmerge/internal/smtp"
)

// TestCheck: Check logs in as send would and sends nothing; each common
// mistake gets a hint in plain words.
func TestCheck(t *testing.T) {
	serverTLS, pool := testCA(t)
	silent := func(t *testing.T) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		return ln.Addr().(*net.TCPAddr).Port
	}
	closed := func(t *testing.T) int {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	tests := []struct {
		name       string
		be         *backend
		tls        bool // the server offers STARTTLS
		implicit   bool // the server speaks TLS from the first byte
		port       func(*testing.T) int
		security   smtp.Security
		user, pass string
		serverName string
		phase      string // the error starts with it, and says it once
		untrusted  bool
		waits      bool         // the check ends by waiting for a server that says nothing
		kind       RunErrorKind // 0: success
		hint       string
	}{
		{name: "STARTTLS and AUTH", be: &backend{user: "me", pass: "pw", mechs: []string{sasl.Plain, sasl.Login}}, tls: true, security: smtp.StartTLS, user: "me", pass: "pw"},
		{name: "implicit TLS and AUTH LOGIN", be: &backend{user: "me", pass: "pw", mechs: []string{sasl.Login}}, tls: true, implicit: true, security: smtp.TLS, user: "me", pass: "pw"},
		{name: "no login", be: &backend{}, tls: true, security: smtp.StartTLS},
		{name: "wrong password", be: &backend{user: "me", pass: "pw"}, tls: true, security: smtp.StartTLS, user: "me", pass: "nope",
			kind: ErrAuth, hint: "the server refused the username or the password"},
		{name: "no AUTH offered", be: &backend{}, tls: true, security: smtp.StartTLS, user: "me", pass: "pw",
			kind: ErrAuth, hint: "the server does not offer to log in on this connection"},
		{name: "no STARTTLS", be: &backend{}, security: smtp.StartTLS,
			kind: ErrTLS, hint: "does not offer encryption (STARTTLS), so the password and the letters would cross the network readable"},
		{name: "unknown authority", be: &backend{}, tls: true, security: smtp.StartTLS, untrusted: true,
			kind: ErrTLS, hint: "not signed by an authority this computer trusts; if your organisation has its own, set smtp.ca_file"},
		{name: "name mismatch", be: &backend{}, tls: true, security: smtp.StartTLS, serverName: "mail.example.com",
			kind: ErrTLS, hint: "the server's certificate is for localhost, not mail.example.com: set smtp.server_name"},
		{name: "starttls to a TLS port", be: &backend{}, tls: true, implicit: true, security: smtp.StartTLS, waits: true,
			kind: ErrUnavailable, hint: "speaks TLS from the first byte and waited for it: set smtp.security: tls"},
		{name: "tls to a plain port", be: &backend{}, tls: true, security: smtp.TLS,
			kind: ErrTLS, hint: "speaks plain SMTP first, not TLS: set smtp.security: starttls"},
		{name: "nobody listens", port: closed, security: smtp.StartTLS,
			kind: ErrUnavailable, hint: "nothing answers at 127.0.0.1:", phase: smtp.PhaseConnect},
		{name: "a server that says nothing", port: silent, security: smtp.StartTLS, waits: true,
			kind: ErrUnavailable, hint: "did not answer in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var port int
			if tt.port != nil {
				port = tt.port(t)
			} else {
				var stls *tls.Config
				if tt.tls {
					stls = serverTLS
				}
				port = startServerOn(t, tt.be, stls, tt.implicit)
			}
			tr := smtpTransport(port)
			// The timeout only bounds a hang, but where the check ends by
			// waiting: a TLS handshake under -race on a busy machine can
			// take longer than a second.
			tr.Timeout = 30 * time.Second
			if tt.waits {
				tr.Timeout = time.Second
			}
			tr.Security, tr.Username, tr.Password = tt.security, tt.user, tt.pass
			tr.TLSConfig = &tls.Config{ServerName: "localhost", RootCAs: pool}
			if tt.serverName != "" {
				tr.TLSConfig.ServerName = tt.serverName
			}
			if tt.untrusted {
				tr.TLSConfig.RootCAs = nil
			}
			info, err := tr.Check(context.Background())
			var re *RunError
			switch {
			case tt.kind == 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tt.kind != 0 && (!errors.As(err, &re) || re.Kind != tt.kind || !strings.Contains(re.Hint, tt.hint)):
				t.Fatalf("err = %v (%T), hint %q; want kind %d, hint %q", err, err, hintOf(err), tt.kind, tt.hint)
			case tt.phase != "" && (!strings.HasPrefix(err.Error(), tt.phase+": ") || strings.Count(err.Error(), tt.phase) != 1):
				t.Fatalf("err = %q; want it to start with %s, said once", err, tt.phase)
			case tt.kind != 0:
				return
			}
			if info.TLS == nil || info.Greeting == "" || !slices.ContainsFunc(info.Extensions, func(e string) bool { return strings.HasPrefix(e, "PIPELINING") }) {
				t.Errorf("info %+v", info)
			}
			if tt.user != "" && (info.User != "me" || tt.be.auths != 1 || len(info.Auth) == 0) {
				t.Errorf("user %q, %d AUTH attempts, mechanisms %v", info.User, tt.be.auths, info.Auth)
			}
			if n := len(tt.be.messages()); n != 0 {
				t.Errorf("%d letters sent by a check", n)
			}
		})
	}
}

func hintOf(err error) string {
	var re *RunError
	if errors.As(err, &re) {
		return re.Hint
	}
	return ""
}

// TestOpenDiagnosesATLSPort: send's first session to a TLS port with
// security starttls ends the run at once, with the hint, instead of
// waiting for a greeting that never comes, try after try.
func TestOpenDiagnosesATLSPort(t *testing.T) {
	serverTLS, _ := testCA(t)
	port := startServerOn(t, &backend{}, serverTLS, true)
	tr := smtpTransport(port)
	tr.Security, tr.Timeout = smtp.StartTLS, time.Second
	st, last, err := runPool(t, tr, letters(3), func(p *Pool) { p.OpenTries = 3 })
	var re *RunError
	if !errors.As(err, &re) || re.Kind != ErrTLS || !strings.Contains(re.Hint, "set smtp.security: tls") || st.Untouched != 3 || len(last) != 0 {
		t.Fatalf("err %v, hint %q; %s", err, hintOf(err), summary(st))
	}
}
