package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
)

func newJournalCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "journal", Short: "Make a journal's tables in PostgreSQL, or move a journal", Long: help("journal"), Args: unknownCommand}
	run := func(use string, n int, short string, do func(cmd *cobra.Command, cfg *config.Config, a []string) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: args(cobra.ExactArgs(n)), RunE: func(cmd *cobra.Command, a []string) error {
			cfg, err := loadConfigFor(cmd, nil, config.SendOnly)
			if err != nil {
				return err
			}
			return do(cmd, cfg, a)
		}}
	}
	moved := func(from, to string) func(*cobra.Command, *config.Config, []string) error {
		return func(cmd *cobra.Command, cfg *config.Config, a []string) error {
			names := map[string]string{"config": cfg.Send.Journal, "arg": a[0]}
			n, err := mailing.CopyJournal(cmd.Context(), cfg, names[from], names[to], cmd.ErrOrStderr())
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "copied %s to %s\n", mailing.Plural(n, "record"), names[to])
			}
			return err
		}
	}
	cmd.AddCommand(
		run("migrate", 0, "Make or update the mailmerge tables in send.journal's database", func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
			return mailing.MigrateJournal(cmd.Context(), cfg, cmd.OutOrStdout())
		}),
		run("export TO", 1, "Copy the journal to TO: a file, or a postgres:// URL", moved("config", "arg")),
		run("import FROM", 1, "Copy the journal FROM (a file, or a postgres:// URL) into send.journal's", moved("arg", "config")))
	return cmd
}
