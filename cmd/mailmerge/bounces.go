package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/bounce"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/report"
)

func newBouncesCmd() *cobra.Command {
	var moveTo string
	cmd := &cobra.Command{
		Use:   "bounces",
		Short: "Record the bounces that came back to your mailbox (IMAP)",
		Long: `bounces reads the mailbox of the imap section over IMAP: the messages that
arrived since the mailing's first letter went out. Each delivery report
(a bounce) about a letter of this mailing is matched to the letter and its
recipient, by the identity the letter was sent with (ENVID) or by its
Message-ID, and recorded in the journal: bounced (the recipient's mailbox
refused it, for good) or delayed (still being tried).

report and --failed-csv then list bounced recipients like those refused at
send time, and send does not send them the letter again. Reading the
mailbox again records nothing twice. Nothing is moved or deleted, unless
--move-to FOLDER is given: then the reports recorded are moved there.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigFor(cmd, nil, func(key string) bool {
				return strings.HasPrefix(key, "smtp.") && key != "smtp.host" && key != "smtp.port" ||
					strings.HasPrefix(key, "send.") && key != "send.journal"
			})
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
	fmt.Fprintf(out, "%s: %s since %s that may be delivery reports\n", folder, plural(r.Messages, "message"), r.Since.Format("2 Jan 2006"))
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
		fmt.Fprintf(out, "%s:%d: %s %s: %s\n", csvName, rec.Line, state, rec.Rcpt, report.Reply(ro))
	}
	for _, rep := range r.Unmatched {
		fmt.Fprintf(out, "not matched to a letter of this mailing: %q of %s\n", rep.Subject, rep.Date.Format("2 Jan 2006 15:04"))
	}
	fmt.Fprintf(out, "bounced %d, delayed %d recorded; %s recorded before; %d not matched",
		counts[journal.Bounced], counts[journal.Delayed], plural(r.Known, "report"), len(r.Unmatched))
	if r.Moved > 0 {
		fmt.Fprintf(out, "; %s moved", plural(r.Moved, "report"))
	}
	fmt.Fprintln(out)
}
