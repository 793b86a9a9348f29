package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/bounce"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/report"
)

func newBouncesCmd() *cobra.Command {
	var moveTo string
	cmd := &cobra.Command{
		Use:   "bounces",
		Short: "Record the bounces that came back to your mailbox (IMAP)",
		Long:  help("bounces"),
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigFor(cmd, nil, config.SendOnly)
			if err != nil {
				return err
			}
			r, err := mailing.Bounces(cmd.Context(), cfg, moveTo, passwordPrompt(cmd))
			if r != nil {
				printBounces(cmd, filepath.Base(cfg.Recipients.File), cfg.IMAP.Mailbox, r)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&moveTo, "move-to", "", "move the reports recorded to `FOLDER` (nothing is moved without it)")
	return cmd
}

func printBounces(cmd *cobra.Command, csvName, folder string, r *bounce.Reading) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s: %s since %s that may be delivery reports\n", folder, mailing.Plural(r.Messages, "message"), r.Since.Format("2 Jan 2006"))
	if r.Skipped > 0 {
		fmt.Fprintf(out, "note: only the newest messages since then were looked at: %d older ones were not (move old mail out of %s to have them read)\n", r.Skipped, folder)
	}
	counts := map[journal.State]int{}
	for _, rec := range r.Recorded {
		state := journal.Bounced
		if rec.Action == bounce.Delayed {
			state = journal.Delayed
		}
		counts[state]++
		ro := journal.RcptOutcome{Rcpt: rec.Rcpt, State: state, Code: rec.Code, Enhanced: rec.Status, Text: rec.Diagnostic}
		fmt.Fprintf(out, "%s: %s %s: %s\n", report.Place(csvName, rec.Line, rec.SentLine), state, rec.Rcpt, report.Reply(ro))
	}
	for _, rep := range r.Unmatched {
		fmt.Fprintf(out, "not matched to a letter of this mailing: %q of %s\n", rep.Subject, rep.Date.Format("2 Jan 2006 15:04"))
	}
	fmt.Fprintf(out, "bounced %d, delayed %d recorded; %s recorded before; %d not matched",
		counts[journal.Bounced], counts[journal.Delayed], mailing.Plural(r.Known, "report"), len(r.Unmatched))
	if r.Moved > 0 {
		fmt.Fprintf(out, "; %s moved", mailing.Plural(r.Moved, "report"))
	}
	fmt.Fprintln(out)
}
