package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/address"
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
	limit         int
	trace         string
	resendUnknown bool
	yes           bool
	verbose       bool
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

--redirect-to ADDRESS is a test: the letters (all, or the first --limit N)
go to ADDRESS alone, as they are plus an X-Mailmerge-Original-To header
naming their recipients; nobody else gets anything, and the real send
afterwards still sends every letter.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runSend(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.limit, "limit", "n", 0, "send at most N letters in this run (0: all)")
	fl.StringVar(&f.redirect, "redirect-to", "", "a test: send the letters to `ADDRESS` only, not to their recipients")
	fl.Int("concurrency", 0, "SMTP sessions at once (overrides send.concurrency)")
	fl.String("rate", "", "letters per time, e.g. 10/s, 100/min (overrides send.rate)")
	fl.StringVar(&f.trace, "trace", "", "write the SMTP dialogue to `FILE` (passwords and bodies left out)")
	fl.BoolVar(&f.resendUnknown, "resend-unknown", false, "also resend letters whose delivery is unknown (same Message-ID)")
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every letter")
	return cmd
}

func runSend(cmd *cobra.Command, f sendFlags) error {
	if f.limit < 0 {
		return usageError("--limit must not be negative")
	}
	redirect, err := redirectTo(f.redirect)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(cmd, map[string]string{"concurrency": "send.concurrency", "rate": "send.rate"})
	if err != nil {
		return err
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var trace *sender.Trace
	if f.trace != "" {
		tf, err := os.OpenFile(f.trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer tf.Close()
		trace = sender.NewTrace(tf)
	}
	transport, err := newTransport(cmd, cfg, trace)
	if err != nil {
		return err
	}

	// The journal first: its lock keeps a second send of this campaign out
	// from the start, and it tells which letters are still to send.
	j, err := journal.Open(cfg.Send.Journal)
	if errors.Is(err, journal.ErrLocked) {
		return &exitError{code: exitLocked, err: err, hint: "wait for the other send to finish, or stop it (Ctrl-C) and run send again"}
	}
	if err != nil {
		return &exitError{code: exitInternal, err: err}
	}
	defer j.Close()

	c := newCampaign(cmd, cfg, j.Known)
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

	// Every row must be right before anything is sent.
	plan, err := c.Plan(cmd.Context(), pool)
	if err := problemsError(plan.Summary, err); err != nil {
		return err
	}
	if plan.Letters == 0 {
		return &exitError{code: exitData, err: errors.New("no letters to send")}
	}
	switch {
	case redirect != nil:
	case plan.Renamed:
		fmt.Fprintf(stderr, "warning: %s has records of %s, none of them in this mailing: if campaign: (%q) changed, every letter goes out again\n",
			filepath.Base(cfg.Send.Journal), plural(plan.Recorded, "letter"), cfg.Campaign)
	case plan.Recorded == 0:
		// A campaign's journal is named after it: one renamed by mistake
		// starts afresh, and the journal of its old name is the clue.
		if others := journal.Others(cfg.Send.Journal); len(others) > 0 {
			fmt.Fprintf(stderr, "note: nothing of campaign %q was sent before (%s is new); this folder has %s of other campaigns: if this mailing had another name, stop here and rename that journal to %s\n",
				cfg.Campaign, filepath.Base(cfg.Send.Journal), strings.Join(others, ", "), filepath.Base(cfg.Send.Journal))
		}
	}
	if redirect == nil {
		printElsewhere(stderr, plan, transport)
	}
	// Say how the file was read: a wrongly guessed encoding garbles names.
	printSource(stdout, cfg, plan.Summary)

	if pool.MaxLetters, err = runLimit(cfg, f.limit); err != nil {
		return err
	}
	if plan.ToSend > 0 && !f.yes && isTerminal(cmd.InOrStdin()) {
		if err := confirm(cmd, cfg, plan, pool); err != nil {
			return err
		}
	}
	pool.Progress = progressLine(stderr, plan.Letters, 10*time.Second)

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
		if errors.Is(err, campaign.ErrProblems) {
			return errors.New("the recipients or the template changed since the check; stopped")
		}
		return err
	})
	if redirect != nil {
		return testSummary(stdout, redirect.Addr, st, runErr, cfg)
	}
	printSendSummary(stdout, plan.Letters, st)
	return sendExit(st, plan.Letters, runErr, cfg)
}

// runLimit is how many letters this run may send: --limit, and what is
// left of send.daily_limit today; 0 for no limit.
func runLimit(cfg *config.Config, limit int) (int, error) {
	if cfg.Send.DailyLimit == 0 {
		return limit, nil
	}
	now := time.Now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	sent, err := journal.DeliveredSince(cfg.Send.Journal, midnight)
	if err != nil {
		return 0, &exitError{code: exitInternal, err: fmt.Errorf("count today's letters for send.daily_limit: %w", err)}
	}
	left := cfg.Send.DailyLimit - sent
	if left <= 0 {
		return 0, &exitError{code: exitRerun, err: fmt.Errorf("send.daily_limit of %d letters reached today", cfg.Send.DailyLimit), hint: "run again tomorrow"}
	}
	if limit == 0 || left < limit {
		return left, nil
	}
	return limit, nil
}

// confirm asks on the terminal whether to send.
func confirm(cmd *cobra.Command, cfg *config.Config, plan campaign.Plan, pool *sender.Pool) error {
	what := plural(plan.Letters, "letter") + " (" + plural(plan.Recipients, "recipient") + ")"
	switch {
	case pool.Redirect != nil:
		n := plan.Letters
		if pool.MaxLetters > 0 && pool.MaxLetters < n {
			n = pool.MaxLetters
		}
		what = fmt.Sprintf("%s as a test to %s alone (not to their recipients)", plural(n, "letter"), pool.Redirect.Addr)
	case plan.ToSend < plan.Letters:
		what = fmt.Sprintf("%d of %s (the others were sent before)", plan.ToSend, plural(plan.Letters, "letter"))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Send %s from %s via %s? [y/N] ", what, cfg.Recipients.File, pool.Transport.Describe())
	answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return &exitError{code: exitUsage, err: errors.New("not confirmed; nothing was sent")}
	}
	return nil
}

// redirectTo reads --redirect-to: one address.
func redirectTo(s string) (*address.Mailbox, error) {
	if s == "" {
		return nil, nil
	}
	list, err := address.ParseList(s)
	if err == nil && len(list) != 1 {
		err = fmt.Errorf("give one address, not %d", len(list))
	}
	if err != nil {
		return nil, usageError("--redirect-to: %v", err)
	}
	return &list[0], nil
}

// printElsewhere says which letters went to another destination before:
// they are not delivered to this one, so this run sends them.
func printElsewhere(w io.Writer, plan campaign.Plan, transport sender.Transport) {
	for _, dest := range slices.Sorted(maps.Keys(plan.Elsewhere)) {
		n := plan.Elsewhere[dest]
		fmt.Fprintf(w, "%s delivered to %s before, not to %s: they are sent again, to their recipients there\n",
			plural(n, "letter"), destinationName(dest), transport.Describe())
	}
}

// destinationName says a journal's destination for people.
func destinationName(dest string) string {
	kind, where, _ := strings.Cut(dest, ":")
	switch kind {
	case "maildir":
		return "Maildir " + where
	case "smtp":
		return where
	}
	return dest
}
