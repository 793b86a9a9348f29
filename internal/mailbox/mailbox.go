// Package mailbox reads and writes the sender's mailbox over IMAP
// (RFC 9051, RFC 3501): the delivery reports that come back after a
// send, and copies of the letters sent, for the Sent folder.
package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailmerge/mailmerge/internal/bearer"
	"github.com/mailmerge/mailmerge/internal/remote"
)

// Security is how the connection to the IMAP server is protected. There
// is no plain-text mode: IMAP always carries a password.
type Security string

const (
	TLS      Security = "tls"      // TLS from the first byte (port 993)
	StartTLS Security = "starttls" // plain text, then STARTTLS before the login (port 143)
)

// Server says where the mailbox is and how to log in.
type Server struct {
	Host     string
	Port     int
	Security Security
	Username string
	Password string
	// Token, when set, logs in with an OAuth2 access token (XOAUTH2 or
	// OAUTHBEARER) instead of Password. It returns the current token;
	// refused is the one the server just refused ("" for none), which it
	// renews once.
	Token func(ctx context.Context, refused string) (string, error)
	TLS   *tls.Config // ServerName defaults to Host
	// Timeout bounds connecting and each command.
	Timeout time.Duration
}

func (s Server) addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Describe names the server for messages: where, and how it is reached.
func (s Server) Describe() string {
	return fmt.Sprintf("IMAP server %s (%s) as %s", s.addr(), s.Security, s.Username)
}

// Mailbox is a logged-in session.
type Mailbox struct {
	s        Server
	c        *imapclient.Client
	raw      *boundConn // under TLS: where deadlines are set
	selected string
}

// Dial connects to the server and logs in. A token the server refuses
// is renewed once, on a new connection: a server may close the one on
// which it refused a token.
func Dial(ctx context.Context, s Server) (*Mailbox, error) {
	m, err := dial(ctx, s, "")
	var r *refusedError
	if errors.As(err, &r) {
		m, err = dial(ctx, s, r.token)
	}
	if errors.As(err, &r) {
		err = r.err
	}
	return m, err
}

// dial connects and logs in; refused is the token refused before.
func dial(ctx context.Context, s Server, refused string) (*Mailbox, error) {
	if s.Timeout == 0 {
		s.Timeout = time.Minute
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		cfg = s.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.Host
	}
	d := &net.Dialer{Timeout: s.Timeout}
	tcp, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return nil, &Error{dialWords(s, err), err}
	}
	conn := &boundConn{Conn: tcp, left: maxAnswer}
	opts := &imapclient.Options{TLSConfig: cfg}
	var c *imapclient.Client
	err = withDeadline(ctx, conn, s.Timeout, func() error {
		switch s.Security {
		case StartTLS:
			c, err = imapclient.NewStartTLS(conn, opts)
			if err != nil {
				return tlsError(s, err)
			}
		default:
			tc := tls.Client(conn, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				return tlsError(s, err)
			}
			c = imapclient.New(tc, opts)
		}
		if err := c.WaitGreeting(); err != nil {
			return &Error{fmt.Sprintf("the IMAP server %s did not greet", s.addr()), err}
		}
		if s.Token != nil {
			return loginToken(ctx, c, s, refused)
		}
		if err := c.Login(s.Username, s.Password).Wait(); err != nil {
			return &Error{fmt.Sprintf("the IMAP server %s refused the login of %s: check imap.username and the password", s.addr(), s.Username), fmt.Errorf("%w: %s", ErrLogin, remote.Hide(err.Error(), s.Password))} // a server may repeat it
		}
		return nil
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		conn.Close()
		return nil, err
	}
	return &Mailbox{s: s, c: c, raw: conn}, nil
}

// Close logs out, waiting a few seconds at most for the server to say
// goodbye.
func (m *Mailbox) Close() error {
	withDeadline(context.Background(), m.raw, 5*time.Second, func() error { return m.c.Logout().Wait() })
	return m.c.Close()
}

// loginToken logs in with an OAuth2 access token (AUTHENTICATE, RFC
// 3501 §6.2.2); refused is a token refused before, to renew. A refusal
// of a token not renewed yet is a *refusedError.
func loginToken(ctx context.Context, c *imapclient.Client, s Server, refused string) error {
	mech := bearer.Choose(c.Caps().AuthMechanisms())
	if mech == "" {
		return &Error{fmt.Sprintf("the IMAP server %s offers no OAuth2 login (AUTH=XOAUTH2 or AUTH=OAUTHBEARER): set imap.auth: password, or check imap.host", s.addr()), ErrLogin}
	}
	token, err := s.Token(ctx, refused)
	if err != nil {
		return &Error{err.Error(), fmt.Errorf("%w: %w", ErrLogin, err)}
	}
	err = c.Authenticate(bearer.NewClient(mech, s.Username, token, s.Host, s.Port))
	if err == nil {
		return nil
	}
	e := &Error{fmt.Sprintf("the IMAP server %s refused the OAuth2 login of %s: run mailmerge login", s.addr(), s.Username), fmt.Errorf("%w: %s", ErrLogin, remote.Hide(err.Error(), token))}
	if refused == "" {
		return &refusedError{token: token, err: e}
	}
	return e
}

// refusedError is a token refused at login, to renew once.
type refusedError struct {
	token string
	err   error
}

func (e *refusedError) Error() string { return e.err.Error() }
