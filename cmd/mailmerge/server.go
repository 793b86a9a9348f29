package main

import (
	"cmp"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
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
	for _, line := range info.Lines() {
		fmt.Fprintln(cmd.OutOrStdout(), line)
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
	fmt.Fprintln(cmd.OutOrStdout(), mi)
	return nil
}
