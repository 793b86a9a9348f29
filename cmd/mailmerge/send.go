package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/mailing"
)

type sendFlags struct {
	redirect      string
	skipInvalid   bool
	limit         int
	trace         string
	resendUnknown bool
	newMailing    bool
	wait          bool
	at            string
	shard         string
	yes           bool
	verbose       bool
	quiet         bool
	logFormat     string
	rows          rowFlags
}

func newSendCmd() *cobra.Command {
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Check every row, then deliver the letters not yet delivered",
		Long:  help("send"),
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.logFormat != "json" {
				return runSend(cmd, f, cmd.ErrOrStderr())
			}
			// For scripts: every line on stderr a JSON record, the end too.
			lines := newJSONLines(cmd.ErrOrStderr())
			return lines.exit(runSend(cmd, f, lines))
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.limit, "limit", "n", 0, "send at most N letters in this run (0: all)")
	fl.StringVar(&f.redirect, "redirect-to", "", "a test: send the letters to `ADDRESS` only, not to their recipients")
	fl.BoolVar(&f.skipInvalid, "skip-invalid", false, "send the valid rows' letters and record the invalid rows, instead of sending nothing")
	fl.Int("concurrency", 0, "SMTP sessions at once (overrides send.concurrency)")
	fl.String("rate", "", "letters per time, e.g. 10/s, 100/min (overrides send.rate)")
	fl.StringVar(&f.trace, "trace", "", "write the SMTP dialogue to `FILE` (passwords and bodies left out)")
	fl.BoolVar(&f.resendUnknown, "resend-unknown", false, "also resend letters whose delivery is unknown (same Message-ID)")
	fl.BoolVar(&f.newMailing, "new-mailing", false, "send although a mailing of this campaign's name was sent from another folder: this is another mailing")
	fl.BoolVar(&f.wait, "wait", false, "keep sending until every letter is sent, sleeping through send.daily_limit and send times")
	fl.StringVar(&f.at, "at", "", "check and confirm now, send at `TIME` (09:00, 2026-12-08 09:00)")
	fl.StringVar(&f.shard, "shard", "", "send shard `K/N` of the mailing split into N, with a journal of its own (run 1/N to N/N at once)")
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every letter")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress and no line per failure; only the summary")
	fl.StringVar(&f.logFormat, "log-format", "text", "`text`, or json: a JSON record per letter and a summary on stderr, for scripts")
	f.rows.add(cmd)
	return cmd
}

// runSend sends; what it has to say beside the letters' outcomes goes to
// stderr.
func runSend(cmd *cobra.Command, f sendFlags, stderr io.Writer) error {
	if f.limit < 0 {
		return usageError("--limit must not be negative")
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return usageError("--log-format: want text or json, got %q", f.logFormat)
	}
	redirect, err := redirectTo(f.redirect)
	if err != nil {
		return err
	}
	sel, err := f.rows.selection()
	if err != nil {
		return err
	}
	var shard campaign.Shard
	if shard, err = campaign.ParseShard(f.shard); err != nil && f.shard != "" {
		return usageError("--shard %v", err)
	}
	cfg, err := loadConfig(cmd, map[string]string{"concurrency": "send.concurrency", "rate": "send.rate"})
	if err != nil {
		return err
	}
	stdout := cmd.OutOrStdout()
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	var log *slog.Logger
	if f.logFormat == "json" {
		log = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	} else {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	}
	mode := f.watchMode(cmd.ErrOrStderr())
	var watch *watcher
	res, err := mailing.Send(cmd.Context(), cfg, mailing.SendOptions{
		Select:        sel,
		Redirect:      redirect,
		SkipInvalid:   f.skipInvalid,
		ResendUnknown: f.resendUnknown,
		NewMailing:    f.newMailing,
		Shard:         shard,
		Limit:         f.limit,
		Wait:          f.wait,
		At:            f.at,
		Trace:         f.trace,
		Log:           log,
		Notes:         stderr,
		Ask:           passwordPrompt(cmd),
		Planned: func(plan campaign.Plan) {
			// Say how the file was read: a wrongly guessed encoding garbles names.
			printSource(stdout, cfg, plan.Summary)
			printSelection(stdout, sel, plan.Summary)
			printSuppressed(stdout, cfg, plan.Summary)
		},
		Confirm: func(c mailing.Confirmation) error {
			if f.yes || !isTerminal(cmd.InOrStdin()) {
				return nil
			}
			return confirm(cmd, cfg, c, redirect)
		},
		Watch: func(total int) mailing.Watch {
			watch = newWatcher(mode, cmd.ErrOrStderr(), filepath.Base(cfg.Recipients.File), total)
			return mailing.Watch{Progress: watch.progress, Record: watch.record, Finish: watch.finish}
		},
		Interrupt: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return secondInterrupt(ctx, func(s string) { watch.say(stderr, s) })
		},
	})
	switch {
	case res == nil:
		return err
	case res.Settled:
		printSource(stdout, cfg, res.Summary)
		printSendSummary(stdout, res.Letters, 0, 0, res.Stats, mode == watchBar, mailing.Counted(cfg))
		return err
	case redirect != nil:
		printTestSummary(stdout, redirect.Addr, res.Stats, res.Invalid)
		return err
	}
	printSendSummary(stdout, res.Letters, len(res.Invalid), res.Suppressed, res.Stats, mode == watchBar, mailing.Counted(cfg))
	if res.Copies > 0 {
		fmt.Fprintf(stdout, "saved a copy of %s in %s\n", mailing.Plural(res.Copies, "letter"), cfg.IMAP.SentFolder)
	}
	if len(res.Invalid) > 0 && !res.CopiesFailed {
		fmt.Fprintf(stdout, "invalid: %s not sent (%s %s); mailmerge report lists them\n", mailing.Plural(len(res.Invalid), "row"), mailing.LineWord(len(res.Invalid)), mailing.JoinInts(res.Invalid))
	}
	return err
}
