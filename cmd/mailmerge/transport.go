package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// newTransport builds the transport the config names, without its
// password: login asks for it once the letters are known to be right.
func newTransport(cfg *config.Config, trace *sender.Trace) (sender.Transport, error) {
	configErr := func(err error) error { return &exitError{code: exitConfig, err: err} }
	if err := cfg.CheckTransport(); err != nil {
		return nil, configErr(err)
	}
	if cfg.Maildir.Path != "" {
		return &sender.Maildir{Path: cfg.Maildir.Path}, nil
	}
	s := cfg.SMTP
	tlsConfig, err := cfg.TLSConfig()
	if err != nil {
		return nil, configErr(err)
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

// login finds the password of an SMTP transport (from the environment,
// the password file, or the terminal); a Maildir needs none.
func login(cmd *cobra.Command, cfg *config.Config, t sender.Transport) error {
	s, ok := t.(*sender.SMTP)
	if !ok {
		return nil
	}
	password, err := cfg.Password(passwordPrompt(cmd, cfg.SMTP.Username, cfg.SMTP.Host))
	if err != nil {
		return &exitError{code: exitConfig, err: err}
	}
	s.Password = password
	return nil
}

// passwordPrompt asks for the password of user at host on the terminal,
// without echo; nil when standard input is not a terminal.
func passwordPrompt(cmd *cobra.Command, user, host string) func() (string, error) {
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func() (string, error) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Password for %s at %s: ", user, host)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		return string(pw), err
	}
}

// isTerminal reports whether r (standard input, or an output) is one.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
