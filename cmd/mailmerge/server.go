package main

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
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
	for _, line := range mailing.ServerLines(info) {
		fmt.Fprintln(w, line)
	}
}
