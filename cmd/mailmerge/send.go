package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// Exit codes of send, beyond the common ones.
const (
	exitSomeFailed  = 5  // some letters were refused for good
	exitRerun       = 6  // some letters are deferred, unknown or not sent yet: run again later
	exitAuth        = 7  // the server rejected the credentials
	exitUnavailable = 8  // no connection, TLS failed, or the server refuses letter after letter
	exitUnknown     = 10 // only letters of unknown fate are left: the user decides
)

type sendFlags struct {
	redirect      string
	skipInvalid   bool
	limit         int
	trace         string
	resendUnknown bool
	newMailing    bool
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
		Long: `send checks every row as check does and sends nothing if anything is wrong.
Then it delivers each letter through the configured SMTP server or Maildir
folder, recording every outcome in the journal, and prints a summary.

Run it again after an interruption, a crash or temporary failures: letters
already delivered or refused for good are skipped, so nobody gets a letter
twice. A letter whose fate is unknown (the connection was lost after it was
sent) is not resent unless --resend-unknown is given.

--skip-invalid sends the letters of the valid rows when some rows make no
letter (a bad address, a missing attachment): each invalid row is recorded
in the journal with its problem, counted in the summary, and listed by
report and --failed-csv. Without it, an invalid row stops the send before
anything goes out.

--redirect-to ADDRESS is a test: the letters (all, or the first --limit N)
go to ADDRESS alone, as they are plus an X-Mailmerge-Original-To header
naming their recipients; nobody else gets anything, and the real send
afterwards still sends every letter.`,
		Args: args(cobra.NoArgs),
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

	var trace *sender.Trace
	if f.trace != "" {
		tf, err := os.OpenFile(f.trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer tf.Close()
		trace = sender.NewTrace(tf)
	}
	transport, err := newTransport(cfg, trace)
	if err != nil {
		return err
	}

	// Copies of this mailing in other folders of this machine: one send of
	// the campaign's name at a time, and their journals for the plan. The
	// lock is given back after the journal is closed (deferred first).
	var copies []string
	if redirect == nil && transport.Destination() == journal.SMTP {
		reg, err := registerMailing(cfg)
		if errors.Is(err, journal.ErrCampaignBusy) {
			return &exitError{code: exitLocked, err: err, hint: "wait for that send to finish; a copy of this folder is the same mailing, and must not send it again"}
		}
		if err != nil {
			fmt.Fprintf(stderr, "warning: %v: copies of this mailing in other folders are not looked for\n", err)
		}
		defer reg.Release()
		if reg != nil {
			copies = reg.Others
		}
	}

	// The journal first: its lock keeps a second send of this campaign out
	// from the start, and it tells which letters are still to send.
	j, err := journal.Open(cfg.Send.Journal)
	if errors.Is(err, journal.ErrLocked) {
		return &exitError{code: exitLocked, err: err, hint: "wait for the other send to finish, or stop it (Ctrl-C) and run send again"}
	}
	if errors.Is(err, journal.ErrNotAFile) {
		return &exitError{code: exitConfig, err: err}
	}
	if err != nil {
		return &exitError{code: exitInternal, err: err}
	}
	defer j.Close()
	defer tuneGC(cfg.Recipients.File)() // the index, a million letters' worth, is in
	// The key of the tags that make this mailing's Message-IDs and ENVIDs
	// impossible to forge: made with the journal, kept beside it.
	secret, err := journal.Secret(cfg.Send.Journal, true)
	if err != nil {
		return &exitError{code: exitInternal, err: err}
	}

	// During the check, problems are printed; while sending, the invalid
	// rows a --skip-invalid send leaves out are recorded instead.
	invalid := &invalidRows{j: j, campaign: cfg.Campaign, dest: transport.Destination(), test: redirect != nil}
	c := newCampaign(cmd, cfg, campaign.Options{
		Known:  j.Known,
		Secret: secret,
		Copies: copies,
		OnError: func(err error) {
			if !invalid.sending {
				fmt.Fprintln(stderr, err)
			}
		},
		OnWarning: func(err error) { // said once, by the check
			if !invalid.sending {
				fmt.Fprintf(stderr, "warning: %v\n", err)
			}
		},
		OnInvalid: invalid.record,
		Select:    sel,
	})
	pool := &sender.Pool{
		Transport:     transport,
		Journal:       j,
		Build:         c.Build,
		Concurrency:   cfg.Send.Concurrency,
		Limit:         cfg.Send.Rate.Limiter(),
		MaxAttempts:   cfg.Send.MaxAttempts,
		PerSession:    cfg.Send.MessagesPerConnection,
		Backoff:       cfg.Send.RetryDelay,
		OpenTries:     3,
		PolicyStop:    5,
		ResendUnknown: f.resendUnknown,
		Redirect:      redirect,
		Log:           log,
	}

	// A mailing sent in full before says so without making its letters
	// again (a million of them take a minute). One that saves copies
	// looks for copies still to save.
	if sum, states, ok := c.Settled(cmd.Context(), pool.Journal, campaign.Target{Dest: pool.Transport.Destination(), ResendUnknown: pool.ResendUnknown, Test: pool.Redirect != nil}); ok && !cfg.IMAP.SaveCopies {
		st := sender.Stats{Letters: sum.Letters, Skipped: states}
		printSource(stdout, cfg, sum)
		printSendSummary(stdout, sum.Letters, 0, 0, st, f.watchMode(cmd.ErrOrStderr()) == watchBar)
		return sendExit(st, sum.Letters, nil, cfg)
	}

	// Letters sent before from a copy of this mailing elsewhere, or of
	// unknown fate, that the Sent folder holds: delivered, not sent again.
	if err := lookInSent(cmd, cfg, pool, f.newMailing, stderr); err != nil {
		return err
	}

	// Every row must be right before anything is sent.
	plan, err := c.Plan(cmd.Context(), pool.Journal, campaign.Target{Dest: pool.Transport.Destination(), ResendUnknown: pool.ResendUnknown, Test: pool.Redirect != nil})
	skip := f.skipInvalid && errors.Is(err, campaign.ErrProblems) && plan.Skippable()
	if skip {
		fmt.Fprintf(stderr, "%s make no letter: --skip-invalid leaves them out and records them\n", plural(plan.Invalid, "row"))
	} else if err := problemsError(plan.Summary, err); err != nil {
		var ee *exitError
		if f.skipInvalid && errors.As(err, &ee) && ee.code == exitData {
			ee.hint += "\n--skip-invalid leaves out rows that make no letter, not a problem with the template, the CSV header or the file itself (a stray quote: the rest of the file cannot be read)"
		}
		return err
	}
	if err := noneChosen(sel, plan.Summary); err != nil {
		return err
	}
	if plan.Letters == 0 {
		return &exitError{code: exitData, err: errors.New("no letters to send")}
	}
	if redirect == nil {
		if err := planNotes(stderr, cfg, plan, transport, f.newMailing); err != nil {
			return err
		}
	}
	// Say how the file was read: a wrongly guessed encoding garbles names.
	printSource(stdout, cfg, plan.Summary)
	printSelection(stdout, sel, plan.Summary)
	printSuppressed(stdout, cfg, plan.Summary)

	var dailyLeft int
	if pool.MaxLetters, dailyLeft, err = runLimit(cfg, f.limit); err != nil {
		return err
	}
	if plan.ToSend > 0 && !f.yes && isTerminal(cmd.InOrStdin()) {
		if err := confirm(cmd, cfg, plan, pool, dailyLeft); err != nil {
			return err
		}
	}
	if plan.ToSend > 0 {
		if err := login(cmd, cfg, transport); err != nil {
			return err
		}
	}
	var sentCopies *sentFolder
	if redirect == nil {
		if sentCopies, err = openSentFolder(cmd, cfg); err != nil {
			return err
		}
	}
	j.Grow(plan.ToSend)
	watch := newWatcher(f.watchMode(cmd.ErrOrStderr()), cmd.ErrOrStderr(), filepath.Base(cfg.Recipients.File), runTotal(plan, pool))
	pool.Progress, pool.OnRecord = watch.progress, watch.record
	invalid.sending = true

	ctx := cmd.Context()
	hard, stop := secondInterrupt(ctx, stderr)
	defer stop()
	st, runErr := pool.Run(ctx, hard, func(yield func(*letter.Letter) bool) error {
		_, err := c.Letters(ctx, func(l *letter.Letter, _ *recipients.Record) error {
			if !yield(l) {
				return campaign.ErrStop
			}
			return nil
		})
		if errors.Is(err, campaign.ErrProblems) && !(skip && len(invalid.lines) == plan.Invalid) {
			return errors.New("the recipients or the template changed since the check; stopped")
		}
		if errors.Is(err, campaign.ErrProblems) {
			return nil // the invalid rows, recorded
		}
		return err
	})
	watch.finish(st)
	if redirect != nil {
		return testSummary(stdout, redirect.Addr, st, invalid.lines, runErr, cfg)
	}
	printSendSummary(stdout, plan.Letters, len(invalid.lines), plan.Suppressed, st, watch.mode == watchBar)
	if sentCopies != nil && ctx.Err() == nil {
		if err := sentCopies.save(ctx, stdout, c, j, transport.Destination()); err != nil {
			return err
		}
	}
	return invalidExit(stdout, invalid.lines, sendExit(st, plan.Letters, runErr, cfg), cfg)
}

// registerMailing takes the lock of the campaign's name in the user's
// registry of mailings and records this journal there (journal.Register).
func registerMailing(cfg *config.Config) (*journal.Registration, error) {
	dir, err := journal.StateDir()
	if err != nil {
		return nil, err
	}
	return journal.Register(dir, cfg.Campaign, cfg.Send.Journal)
}
