package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/mailing"
)

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a sample config, letter template and recipients CSV",
		Long:  help("init"),
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			dir := "."
			if len(a) == 1 {
				dir = a[0]
			}
			if err := mailing.CheckInit(dir); err != nil {
				return err
			}
			answers := mailing.DefaultSetup
			if isTerminal(cmd.InOrStdin()) {
				var err error
				if answers, err = ask(cmd.InOrStdin(), cmd.ErrOrStderr()); err != nil {
					return &mailing.Error{Kind: mailing.Usage, Err: fmt.Errorf("init: %w", err)}
				}
			}
			if err := mailing.Init(dir, answers, func(name string) { fmt.Fprintln(cmd.OutOrStdout(), "wrote", name) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "next: edit the files, then run mailmerge check -c %s\n", filepath.Join(dir, "mailmerge.yaml"))
			return nil
		},
	}
}
