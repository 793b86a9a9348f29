package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/report"
)

func newReportCmd() *cobra.Command {
	var failedCSV string
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
			rep, history, sum, err := mailing.Report(cmd.Context(), cfg, sel, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			rep.Write(cmd.OutOrStdout(), filepath.Base(cfg.Recipients.File))
			report.WriteTests(cmd.OutOrStdout(), history.Tests)
			if failedCSV == "" {
				return nil
			}
			n, err := writeFailedCSV(failedCSV, sum.Delimiter, rep)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s to %s\n", mailing.Plural(n, "row"), failedCSV)
			return nil
		},
	}
	cmd.Flags().StringVar(&failedCSV, "failed-csv", "", "write the rows of letters not delivered to `FILE`")
	rf.add(cmd)
	return cmd
}

// writeFailedCSV writes the rows of the letters not delivered
// (report.WriteCSV) to a file only its owner may read.
func writeFailedCSV(path string, delim rune, rep *report.Report) (int, error) {
	f, err := createPrivate(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := report.WriteCSV(f, delim, rep)
	if err != nil {
		return n, err
	}
	return n, f.Close()
}

// createPrivate creates (or empties) a file only its owner may read: the
// files mailmerge writes hold people's names, addresses and letters.
func createPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil { // made 0644 by an earlier version
		f.Close()
		return nil, err
	}
	return f, nil
}

// writePrivate writes a file only its owner may read (createPrivate).
func writePrivate(path string, data []byte) error {
	f, err := createPrivate(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
