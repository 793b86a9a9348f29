package mailing

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/mailbox"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// Prompt asks the user for the password of user at host (on a terminal,
// without echo). A nil Prompt asks nobody.
type Prompt func(user, host string) (string, error)

// ask is p as config's password lookups take it: nil for nobody to ask.
func (p Prompt) ask(user, host string) func() (string, error) {
	if p == nil {
		return nil
	}
	return func() (string, error) { return p(user, host) }
}

// Transport builds the transport the config names, without its password:
// Login finds that once the letters are known to be right. trace, when
// not nil, records the SMTP dialogue.
func Transport(cfg *config.Config, trace *sender.Trace) (sender.Transport, error) {
	if err := cfg.CheckTransport(); err != nil {
		return nil, fail(Config, err)
	}
	if cfg.Maildir.Path != "" {
		return &sender.Maildir{Path: cfg.Maildir.Path}, nil
	}
	t, err := smtpTransport(cfg, trace)
	if err != nil {
		return nil, err // not a nil *SMTP in an interface
	}
	return t, nil
}

// smtpTransport is the transport of the config's SMTP server, without
// its password.
func smtpTransport(cfg *config.Config, trace *sender.Trace) (*sender.SMTP, error) {
	s := cfg.SMTP
	tlsConfig, err := cfg.TLSConfig()
	if err != nil {
		return nil, fail(Config, err)
	}
	helo := s.Helo
	if helo == "" {
		helo, _ = os.Hostname()
	}
	return &sender.SMTP{
		Host: s.Host, Port: s.Port, Security: s.Security, TLSConfig: tlsConfig,
		Helo: helo, Username: s.Username,
		DialTimeout: s.DialTimeout, Timeout: s.Timeout, DataTimeout: s.DataTimeout, Trace: trace,
		DSN: cfg.Send.DSN.Sender(),
	}, nil
}

// Destination names where the config's letters go, as the journal
// records it (sender.Transport.Destination).
func Destination(cfg *config.Config) string {
	if cfg.Maildir.Path != "" {
		return (&sender.Maildir{Path: cfg.Maildir.Path}).Destination()
	}
	return journal.SMTP
}

// Credentials gives an SMTP transport what it logs in with: the tokens
// of mailmerge login (auth: oauth2), or the password (from the
// environment, the password file, or by asking). A Maildir needs none.
func Credentials(ctx context.Context, cfg *config.Config, t sender.Transport, ask Prompt) error {
	if s, ok := t.(*sender.SMTP); ok {
		return credentials(ctx, cfg, s, ask)
	}
	return nil
}

func credentials(ctx context.Context, cfg *config.Config, s *sender.SMTP, ask Prompt) error {
	if cfg.SMTP.Auth == config.OAuth {
		src, err := tokens(ctx, cfg)
		if err != nil {
			return err
		}
		s.Token = src.Token
		return nil
	}
	password, err := cfg.Password(ask.ask(cfg.SMTP.Username, cfg.SMTP.Host))
	if err != nil {
		return fail(Config, err)
	}
	s.Password = password
	return nil
}

// MailboxServer is the configured IMAP server with what it logs in
// with: the tokens of mailmerge login (imap.auth: oauth2), or the
// password (asked for when none is set).
func MailboxServer(ctx context.Context, cfg *config.Config, ask Prompt) (mailbox.Server, error) {
	m := cfg.IMAP
	var token func(context.Context, string) (string, error)
	password := ""
	if m.Auth == config.OAuth {
		src, err := tokens(ctx, cfg)
		if err != nil {
			return mailbox.Server{}, err
		}
		token = src.Token
	} else {
		var err error
		if password, err = cfg.IMAPPassword(ask.ask(m.Username, m.Host)); err != nil {
			return mailbox.Server{}, fail(Config, err)
		}
	}
	tlsConfig, err := cfg.IMAPTLSConfig()
	if err != nil {
		return mailbox.Server{}, fail(Config, err)
	}
	security := mailbox.Security(strings.ToLower(m.Security))
	if security == "ssl" || security == "" {
		security = mailbox.TLS // what mail programs call SSL/TLS
	}
	return mailbox.Server{Host: m.Host, Port: m.Port, Security: security,
		Username: m.Username, Password: password, Token: token, TLS: tlsConfig, Timeout: m.Timeout}, nil
}

// MailboxError gives an IMAP failure its kind: a refused login, a server
// that could not be used, a folder that is not there.
func MailboxError(err error) error {
	var me *mailbox.Error
	switch {
	case errors.Is(err, mailbox.ErrLogin):
		return fail(Auth, err)
	case errors.As(err, &me):
		return fail(Unavailable, err)
	case errors.Is(err, fs.ErrNotExist):
		return fail(Data, err)
	}
	return err
}

// totalTimeout is imap.total_timeout, 10 minutes where a config built by
// hand has none.
func totalTimeout(cfg *config.Config) time.Duration {
	if cfg.IMAP.TotalTimeout > 0 {
		return cfg.IMAP.TotalTimeout
	}
	return 10 * time.Minute
}

// RunError gives a run-ending failure of the sender its kind, with the
// hint in plain words first and the server's words after.
func RunError(err error, prefix string) error {
	var re *sender.RunError
	if !errors.As(err, &re) {
		return err
	}
	kind := map[sender.RunErrorKind]Kind{
		sender.ErrAuth: Auth, sender.ErrTLS: Unavailable, sender.ErrUnavailable: Unavailable,
		sender.ErrPolicy: Unavailable, sender.ErrJournal: Internal, sender.ErrQuota: Rerun,
	}[re.Kind]
	if re.Hint != "" {
		return &Error{Kind: kind, Err: fmt.Errorf("%s%s\n(%w)", prefix, re.Hint, err)}
	}
	return &Error{Kind: kind, Err: fmt.Errorf("%s%w", prefix, err)}
}
