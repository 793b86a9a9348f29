package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/report"
)

func newReportCmd() *cobra.Command {
	var failedCSV string
	var rf rowFlags
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Show what happened to every letter, from the journal",
		Long: `report reads the send journal and the recipients file and prints how many
letters were delivered, bounced (mailmerge bounces), failed, deferred, of
unknown fate or not sent yet, then each letter that was not delivered with
the server's reply.

--failed-csv FILE writes the recipients rows of those letters, with status,
smtp_code, error and recipient (the addresses that did not get the letter)
columns added, to fix and send again.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel, err := rf.selection()
			if err != nil {
				return err
			}
			// report reads the journal and the CSV: the SMTP settings and
			// the sending policy may be anything.
			cfg, err := loadConfigFor(cmd, nil, func(key string) bool {
				return strings.HasPrefix(key, "smtp.") && key != "smtp.host" && key != "smtp.port" ||
					strings.HasPrefix(key, "send.") && key != "send.journal"
			})
			if err != nil {
				return err
			}
			rep, history, sum, err := mailing.Report(cmd.Context(), cfg, sel, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			printReport(cmd, filepath.Base(cfg.Recipients.File), rep)
			printTests(cmd.OutOrStdout(), history.Tests)
			if failedCSV == "" {
				return nil
			}
			n, err := writeFailedCSV(failedCSV, sum.Delimiter, rep)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s to %s\n", plural(n, "row"), failedCSV)
			return nil
		},
	}
	cmd.Flags().StringVar(&failedCSV, "failed-csv", "", "write the rows of letters not delivered to `FILE`")
	rf.add(cmd)
	return cmd
}

func printReport(cmd *cobra.Command, csvName string, rep *report.Report) {
	out := cmd.OutOrStdout()
	c := rep.Counts
	invalid := ""
	if n := c[journal.Invalid]; n > 0 {
		invalid = fmt.Sprintf(", invalid %d", n)
	}
	if n := c[report.Suppressed]; n > 0 {
		invalid += fmt.Sprintf(", suppressed %d", n)
	}
	bounced := ""
	if c[journal.Bounced] > 0 || c[journal.Delayed] > 0 {
		bounced = fmt.Sprintf(", bounced %d, delayed %d", c[journal.Bounced], c[journal.Delayed])
	}
	fmt.Fprintf(out, "delivered %d%s, failed %d, deferred %d, unknown %d, not sent %d%s (of %d)\n",
		c[journal.Delivered], bounced, c[journal.Failed], c[journal.Deferred], c[journal.Unknown], c[report.NotSent], invalid, rep.Letters)
	for _, l := range rep.Listed {
		if l.State == journal.Invalid {
			loc, problem := locate(csvName, l.Line, l.Problem)
			fmt.Fprintf(out, "%s: invalid: %s\n", loc, problem)
		}
		for _, m := range l.Missed {
			fmt.Fprintf(out, "%s:%d: %s %s: %s\n", csvName, l.Line, report.Word(m.State), m.Rcpt, report.Reply(m))
		}
	}
	for _, cp := range rep.Copies {
		fmt.Fprintf(out, "%s, named in the template: %s in %s: %s\n", cp.Rcpt, report.Word(cp.State), plural(cp.Letters, "letter"), report.Reply(cp.RcptOutcome))
	}
	if rep.Gone > 0 {
		fmt.Fprintf(out, "the journal also has %s no longer in the recipients file (changed or removed rows)\n", plural(rep.Gone, "letter"))
	}
}

// locate gives the place of a problem found on line of the CSV: the
// column too when the problem, which names its place, says it.
func locate(csvName string, line int, problem string) (loc, rest string) {
	loc = fmt.Sprintf("%s:%d", csvName, line)
	after, ok := strings.CutPrefix(problem, loc+":")
	if !ok {
		return loc, problem
	}
	if col, more, ok := strings.Cut(after, ": "); ok {
		if _, err := strconv.Atoi(col); err == nil {
			return loc + ":" + col, more
		}
	}
	return loc, strings.TrimSpace(after)
}

// printTests says what test sends (send --redirect-to) delivered: they
// count for no recipient, so the report's counts leave them out.
func printTests(w io.Writer, tests map[string]int) {
	for _, addr := range slices.Sorted(maps.Keys(tests)) {
		fmt.Fprintf(w, "test sends: %s delivered to %s (not counted above: the recipients got nothing)\n", plural(tests[addr], "letter"), addr)
	}
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
