package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailbox"
	"github.com/mailmerge/mailmerge/internal/preview"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// checkServer connects to the configured SMTP server as send would, logs
// in, says QUIT and prints what it learned; it sends nothing.
func checkServer(cmd *cobra.Command, cfg *config.Config) error {
	if cfg.SMTP.Host == "" {
		return &exitError{code: exitConfig, err: cfg.KeyErr("smtp.host", errors.New("check --smtp: no SMTP server is configured (letters go into maildir.path)"))}
	}
	transport, err := newTransport(cfg, nil)
	if err != nil {
		return err
	}
	if err := login(cmd, cfg, transport); err != nil {
		return err
	}
	info, err := transport.(*sender.SMTP).Check(cmd.Context())
	if err != nil {
		return runError(err, "")
	}
	printServer(cmd.OutOrStdout(), info)
	if cfg.IMAP.Host != "" {
		return checkMailbox(cmd, cfg)
	}
	return nil
}

// checkMailbox logs in to the IMAP server as bounces and Sent copies
// would, and looks at the folders they use: nothing is read or changed.
func checkMailbox(cmd *cobra.Command, cfg *config.Config) error {
	server, err := mailboxServer(cmd, cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	mb, err := mailbox.Dial(cmd.Context(), server)
	if err != nil {
		return mailboxError(err)
	}
	defer mb.Close()
	elapsed := time.Since(start)
	folders := []string{cfg.IMAP.Mailbox}
	if cfg.IMAP.SaveCopies {
		folders = append(folders, cfg.IMAP.SentFolder)
	}
	var held []string
	for _, f := range folders {
		n, err := mb.Examine(cmd.Context(), f)
		if err != nil {
			return mailboxError(err)
		}
		held = append(held, fmt.Sprintf("%s holds %s", f, plural(int(n), "message")))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s (IMAP, %s): logged in as %s in %d ms; %s; nothing was read or changed\n",
		net.JoinHostPort(server.Host, strconv.Itoa(server.Port)), strings.ToUpper(string(server.Security)), server.Username, elapsed.Milliseconds(), strings.Join(held, ", "))
	return nil
}

func printServer(w io.Writer, info *sender.ServerInfo) {
	fmt.Fprintf(w, "%s (%s): connected", info.Addr, info.Security.Words())
	if info.User != "" {
		fmt.Fprintf(w, " and logged in as %s", info.User)
	}
	fmt.Fprintf(w, " in %d ms; nothing was sent\n", info.Elapsed.Milliseconds())
	fmt.Fprintf(w, "  greeting:   %s\n", strings.ReplaceAll(info.Greeting, "\n", " "))
	if st := info.TLS; st != nil {
		fmt.Fprintf(w, "  TLS:        %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		if len(st.PeerCertificates) > 0 {
			c := st.PeerCertificates[0]
			names := c.DNSNames
			if len(names) == 0 {
				names = []string{c.Subject.CommonName}
			}
			fmt.Fprintf(w, "; certificate for %s, issued by %s, valid until %s", strings.Join(names, ", "), c.Issuer.CommonName, c.NotAfter.Format("2006-01-02"))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "  TLS:        none: letters travel in plain text")
	}
	fmt.Fprintf(w, "  extensions: %s\n", strings.Join(info.Extensions, ", "))
	if info.MaxSize > 0 {
		fmt.Fprintf(w, "  size limit: %s a letter\n", preview.Size(info.MaxSize))
	}
	if len(info.Auth) > 0 {
		fmt.Fprintf(w, "  login:      AUTH %s offered\n", strings.Join(info.Auth, " "))
	}
}

// runError maps a run-ending failure to its exit code, with the hint in
// plain words first and the server's words after.
func runError(err error, prefix string) error {
	var re *sender.RunError
	if !errors.As(err, &re) {
		return err
	}
	code := map[sender.RunErrorKind]int{
		sender.ErrAuth: exitAuth, sender.ErrTLS: exitUnavailable, sender.ErrUnavailable: exitUnavailable,
		sender.ErrPolicy: exitUnavailable, sender.ErrJournal: exitInternal,
	}[re.Kind]
	if re.Hint != "" {
		return &exitError{code: code, err: fmt.Errorf("%s%s\n(%w)", prefix, re.Hint, err)}
	}
	return &exitError{code: code, err: fmt.Errorf("%s%w", prefix, err)}
}
