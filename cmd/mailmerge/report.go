package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/report"
)

func newReportCmd() *cobra.Command {
	var failedCSV, out string
	var journals []string
	var rf rowFlags
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Show what happened to every letter, from the journal",
		Long:  help("report"),
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel, err := rf.selection()
			if err != nil {
				return err
			}
			// report reads the journal and the CSV: the SMTP settings and
			// the sending policy may be anything.
			cfg, err := loadConfigFor(cmd, nil, config.SendOnly)
			if err != nil {
				return err
			}
			if err := mailing.CheckOut(cfg, out); err != nil {
				return err
			}
			rep, history, sum, err := mailing.Report(cmd.Context(), cfg, sel, journals, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			rep.Write(cmd.OutOrStdout(), filepath.Base(cfg.Recipients.File))
			report.WriteTests(cmd.OutOrStdout(), history.Tests)
			if failedCSV != "" {
				n, err := mailing.WriteFailedCSV(failedCSV, sum.Delimiter, rep)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s to %s\n", mailing.Plural(n, "row"), failedCSV)
			}
			if out != "" {
				n, err := mailing.WriteRows(cmd.Context(), out, rep, sum)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s with their status to %s\n", mailing.Plural(n, "row"), out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&failedCSV, "failed-csv", "", "write the rows of letters not delivered to `FILE`")
	cmd.Flags().StringVar(&out, "out", "", "write every row of the list, with what became of its letter, to `FILE` (.csv or .xlsx)")
	cmd.Flags().StringArrayVar(&journals, "journal", nil, "read the journal `FILE` (again for more, or a pattern: 'course.shard-*.journal'), merged")
	rf.add(cmd)
	return cmd
}
