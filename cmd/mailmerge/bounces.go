package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/bounce"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/mailbox"
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
			if cfg.IMAP.Host == "" {
				return &exitError{code: exitConfig, err: cfg.KeyErr("imap.host", errors.New("bounces reads your mailbox over IMAP: add an imap: section with host and username, and give the password in the environment variable MAILMERGE_IMAP_PASSWORD (or imap.password_file); config.example.yaml and README.md show it"))}
			}
			if _, err := os.Stat(cfg.Send.Journal); errors.Is(err, fs.ErrNotExist) {
				return &exitError{code: exitData, err: fmt.Errorf("nothing has been sent for this mailing yet (no journal at %s): run mailmerge send first", cfg.Send.Journal)}
			}
			j, err := journal.Open(cfg.Send.Journal)
			switch {
			case errors.Is(err, journal.ErrLocked):
				return &exitError{code: exitLocked, err: err, hint: "run bounces when the send has finished"}
			case errors.Is(err, journal.ErrNotAFile):
				return &exitError{code: exitConfig, err: err}
			case err != nil:
				return err
			}
			defer j.Close()
			if j.Letters() == 0 {
				return &exitError{code: exitData, err: fmt.Errorf("nothing has been sent for this mailing yet (the journal %s has no letters): run mailmerge send first", cfg.Send.Journal)}
			}
			server, err := mailboxServer(cmd, cfg)
			if err != nil {
				return err
			}
			// One reading ends in imap.total_timeout, whatever the server
			// holds or does; what it recorded by then stays recorded.
			ctx, cancel := context.WithTimeout(cmd.Context(), totalTimeout(cfg))
			defer cancel()
			mb, err := mailbox.Dial(ctx, server)
			if err != nil {
				return mailboxError(err)
			}
			defer mb.Close()
			r, err := bounce.Read(ctx, j, cfg.Send.Journal, mb, bounce.Options{Folder: cfg.IMAP.Mailbox, MoveTo: moveTo})
			if r != nil && (err == nil || len(r.Recorded) > 0) { // counts of a folder never read would read as "no bounces"
				printBounces(cmd, filepath.Base(cfg.Recipients.File), cfg.IMAP.Mailbox, r)
			}
			if errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil {
				return &exitError{code: exitUnavailable, err: fmt.Errorf("reading the mailbox took longer than imap.total_timeout (%v): the reports read so far are recorded; run bounces again for the rest", totalTimeout(cfg))}
			}
			if err != nil {
				return mailboxError(err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&moveTo, "move-to", "", "move the reports recorded to `FOLDER` (nothing is moved without it)")
	return cmd
}

// mailboxError gives IMAP failures the exit code of a server that could
// not be used, or of a refused login.
// mailboxServer is the configured IMAP server with the password (asked
// for on a terminal when none is set).
func mailboxServer(cmd *cobra.Command, cfg *config.Config) (mailbox.Server, error) {
	password, err := cfg.IMAPPassword(passwordPrompt(cmd, cfg.IMAP.Username, cfg.IMAP.Host))
	if err != nil {
		return mailbox.Server{}, &exitError{code: exitConfig, err: err}
	}
	server, err := cfg.MailboxServer(password)
	if err != nil {
		return mailbox.Server{}, &exitError{code: exitConfig, err: err}
	}
	return server, nil
}

func mailboxError(err error) error {
	var me *mailbox.Error
	switch {
	case errors.Is(err, mailbox.ErrLogin):
		return &exitError{code: exitAuth, err: err}
	case errors.As(err, &me):
		return &exitError{code: exitUnavailable, err: err}
	case errors.Is(err, fs.ErrNotExist):
		return &exitError{code: exitData, err: err}
	}
	return err
}

// totalTimeout is imap.total_timeout, 10 minutes where a config built by
// hand has none.
func totalTimeout(cfg *config.Config) time.Duration {
	if cfg.IMAP.TotalTimeout > 0 {
		return cfg.IMAP.TotalTimeout
	}
	return 10 * time.Minute
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
