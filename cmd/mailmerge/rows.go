package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/selection"
)

// rowFlags are --rows and --where, which choose the rows a command works
// on (check, preview, send, report).
type rowFlags struct {
	rows  string
	where []string
	cmd   *cobra.Command
}

func (r *rowFlags) add(cmd *cobra.Command) {
	r.cmd = cmd
	cmd.Flags().StringVar(&r.rows, "rows", "", "only the rows on these CSV `LINES`, as check reports them (2-50,75)")
	cmd.Flags().StringArrayVar(&r.where, "where", nil, "only the rows where `COLUMN=VALUE` (also COLUMN!=VALUE, COLUMN~REGEX); repeatable, all must hold")
}

// selection is the rows the flags choose; nil for every row.
func (r *rowFlags) selection() (*selection.Selection, error) {
	// --rows "" is most often an unset shell variable: it must not choose
	// every row, as leaving the flag out does (--where "" is refused too).
	if r.cmd != nil && r.cmd.Flags().Changed("rows") && strings.TrimSpace(r.rows) == "" {
		return nil, usageError("--rows is empty (an unset variable?): give the lines, as in --rows 2-50,75, or leave the flag out for every row")
	}
	s, err := selection.Parse(r.rows, r.where)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if s.All() {
		return nil, nil
	}
	return s, nil
}

// printSelection says how many rows the flags chose.
func printSelection(w io.Writer, sel *selection.Selection, sum campaign.Summary) {
	if sel.All() {
		return
	}
	fmt.Fprintf(w, "selected %d of %s (%s)\n", sum.Rows-sum.Unselected, mailing.Plural(sum.Rows, "row"), sel)
}

// printSuppressed says which recipients recipients.suppress kept out of
// the letters: never silently.
func printSuppressed(w io.Writer, cfg *config.Config, sum campaign.Summary) {
	if sum.SuppressedRcpts == 0 {
		return
	}
	fmt.Fprintf(w, "suppressed: %s not mailed (%s %s), in %s", mailing.Plural(sum.SuppressedRcpts, "recipient"),
		mailing.LineWord(len(sum.SuppressedLines)), mailing.JoinInts(sum.SuppressedLines), filepath.Base(cfg.Recipients.Suppress))
	if sum.Suppressed > 0 {
		fmt.Fprintf(w, "; %s left with nobody to send to", mailing.Plural(sum.Suppressed, "letter"))
	}
	fmt.Fprintln(w)
}
