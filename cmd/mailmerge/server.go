package main

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/preview"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// checkServer connects to the configured SMTP server as send would, logs
// in, says QUIT and prints what it learned; it sends nothing. With an
// imap: section, it does the same for the IMAP server.
func checkServer(cmd *cobra.Command, cfg *config.Config) error {
	var failed error
	for _, a := range cfg.Senders() {
		if a.Name != "" {
			fmt.Fprintf(cmd.OutOrStdout(), "account %s: ", a.Name)
		}
		if err := checkAccount(cmd, cfg.ForAccount(a)); err != nil && a.Name == "" {
			return err
		} else if err != nil {
			fmt.Fprintf(cmd.OutOrStdout(), "not usable: %v\n", err) // the others are checked too
			failed = cmp.Or(failed, err)
		}
	}
	if failed != nil {
		return failed
	}
	return checkMailbox(cmd, cfg)
}

// checkAccount checks the SMTP server of one account.
func checkAccount(cmd *cobra.Command, cfg *config.Config) error {
	info, err := mailing.CheckServer(cmd.Context(), cfg, passwordPrompt(cmd))
	if err != nil {
		return err
	}
	printServer(cmd.OutOrStdout(), info.ServerInfo)
	if l := info.Login; l != nil {
		until := ""
		if !l.Expiry.IsZero() {
			until = ", the token good until " + l.Expiry.Local().Format("2006-01-02 15:04") + " (mailmerge renews it)"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "  OAuth2:     logged in as %s at %s, scopes %s%s\n", l.Username, l.Server, strings.Join(l.Scopes, " "), until)
	}
	return nil
}

// checkMailbox checks the IMAP server, if there is one.
func checkMailbox(cmd *cobra.Command, cfg *config.Config) error {
	if cfg.IMAP.Host == "" {
		return nil
	}
	mi, err := mailing.CheckMailbox(cmd.Context(), cfg, passwordPrompt(cmd))
	if err != nil {
		return err
	}
	var held []string
	for i, f := range mi.Folders {
		held = append(held, fmt.Sprintf("%s holds %s", f, mailing.Plural(int(mi.Counts[i]), "message")))
	}
	server := mi.Server
	fmt.Fprintf(cmd.OutOrStdout(), "%s (IMAP, %s): logged in as %s in %d ms; %s; nothing was read or changed\n",
		net.JoinHostPort(server.Host, strconv.Itoa(server.Port)), strings.ToUpper(string(server.Security)), server.Username, mi.Elapsed.Milliseconds(), strings.Join(held, ", "))
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
