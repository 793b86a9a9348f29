package mailing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/pdf"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/selection"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// How a send treats sessions that will not open, and a server that
// refuses letter after letter for policy or quota.
const (
	openTries  = 3 // tries to open a session before a worker gives up
	policyStop = 5 // policy or quota refusals in a row that stop a run
)

// SendOptions are a send's choices and its ways of talking to the user.
type SendOptions struct {
	Select        *selection.Selection // the rows to send; nil for all
	Redirect      *address.Mailbox     // a test: every letter to this address alone
	SkipInvalid   bool                 // send the valid rows' letters, record the invalid rows
	ResendUnknown bool                 // send letters of unknown fate again
	NewMailing    bool                 // a copy of this mailing elsewhere is another mailing
	Limit         int                  // letters this run may send; 0 for all
	Trace         string               // a file to append the SMTP dialogue to
	Log           *slog.Logger         // a record per letter, at debug level

	// Notes receives, a line at a time, what the send says beside the
	// letters' outcomes: problems with rows, warnings ("warning: "),
	// notes.
	Notes io.Writer
	// Ask asks for a password; nil where nobody can be asked.
	Ask Prompt
	// Planned is told the plan once every row is checked.
	Planned func(campaign.Plan)
	// Confirm is asked, when the run has letters to send, before anything
	// is sent; an error it returns (the user said no) stops the send.
	Confirm func(Confirmation) error
	// Watch is called as the letters start, with how many this run is
	// to send; what it returns sees the run as it goes.
	Watch func(total int) Watch
	// Interrupt returns a context that a second interrupt cancels: the
	// first (ctx) stops dispatching and lets letters in flight finish,
	// the second aborts them. Nil: only ctx.
	Interrupt func(ctx context.Context) (context.Context, context.CancelFunc)
	// Now is the clock of send.daily_limit's window; nil for time.Now.
	Now func() time.Time
}

// Watch sees a run as it goes. Its functions are called from the
// sessions' goroutines; any may be nil.
type Watch struct {
	Progress func(sender.Stats)   // after every change of the counts
	Record   func(journal.Record) // every attempt's outcome, once journaled
	Finish   func(sender.Stats)   // the run is over
}

// Confirmation is what a run will do, known before it sends anything.
type Confirmation struct {
	campaign.Plan
	Run       int    // letters this run sends (at most): --limit and send.daily_limit applied
	DailyLeft int    // what is left of send.daily_limit's window; 0 without one
	Estimate  string // how long it takes, and over how many days; "" if nothing to say
	Via       string // the transport, for people
}

// SendResult is what a run did.
type SendResult struct {
	Summary    campaign.Summary // the rows read
	Letters    int              // the mailing's letters
	Suppressed int              // letters with nobody left to send to
	Stats      sender.Stats
	Invalid    []int // lines of the rows a --skip-invalid run left out
	// Settled says the journal settled every letter before this run: it
	// found so from the rows alone, and made no letter.
	Settled bool
	// Copies is how many letters were saved (or found) in the Sent
	// folder after the run; CopiesFailed says saving them failed.
	Copies       int
	CopiesFailed bool
}

// Send checks every row, then delivers the letters not delivered yet,
// recording every outcome in the journal. It returns what the run did
// (nil when it stopped before sending) and an *Error that says what is
// left to do: letters refused, deferred, of unknown fate, invalid rows.
func Send(ctx context.Context, cfg *config.Config, opts SendOptions) (*SendResult, error) {
	s := &send{cfg: cfg, opts: opts, notes: opts.Notes}
	if s.notes == nil {
		s.notes = io.Discard
	}
	if s.opts.Log == nil {
		s.opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.run(ctx)
}

// send is one run of Send.
type send struct {
	cfg       *config.Config
	opts      SendOptions
	notes     io.Writer
	transport sender.Transport
	journal   *journal.Journal
	campaign  *campaign.Campaign
	pool      *sender.Pool
	invalid   *invalidRows
	printer   *pdf.Printer
}

func (s *send) run(ctx context.Context) (*SendResult, error) {
	cfg, opts := s.cfg, s.opts
	var trace *sender.Trace
	if opts.Trace != "" {
		tf, err := os.OpenFile(opts.Trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		defer tf.Close()
		trace = sender.NewTrace(tf)
	}
	var err error
	if s.transport, err = Transport(cfg, trace); err != nil {
		return nil, err
	}
	dest := s.transport.Destination()

	// Copies of this mailing in other folders of this machine: one send of
	// the campaign's name at a time, and their journals for the plan. The
	// lock is given back after the journal is closed (deferred first).
	var copies []string
	if opts.Redirect == nil && dest == journal.SMTP {
		reg, err := register(cfg)
		if errors.Is(err, journal.ErrCampaignBusy) {
			return nil, &Error{Kind: Locked, Err: err, Hint: "wait for that send to finish; a copy of this folder is the same mailing, and must not send it again"}
		}
		if err != nil {
			fmt.Fprintf(s.notes, "warning: %v: copies of this mailing in other folders are not looked for\n", err)
		}
		defer reg.Release()
		if reg != nil {
			copies = reg.Others
		}
	}

	// The journal first: its lock keeps a second send of this campaign out
	// from the start, and it tells which letters are still to send.
	if s.journal, err = openJournal(cfg.Send.Journal, "wait for the other send to finish, or stop it (Ctrl-C) and run send again"); err != nil {
		return nil, err
	}
	defer s.journal.Close()
	defer tuneGC(cfg.Recipients.File)() // the index, a million letters' worth, is in
	// The key of the tags that make this mailing's Message-IDs and ENVIDs
	// impossible to forge: made with the journal, kept beside it.
	secret, err := journal.Secret(cfg.Send.Journal, true)
	if err != nil {
		return nil, fail(Internal, err)
	}

	// During the check, problems are said; while sending, the invalid
	// rows a --skip-invalid send leaves out are recorded instead.
	s.invalid = &invalidRows{j: s.journal, campaign: cfg.Campaign, dest: dest, test: opts.Redirect != nil}
	s.printer = newPrinter(cfg)
	defer s.printer.Close() // the browser ends with the run, Ctrl-C or not
	s.campaign = campaign.New(cfg, campaign.Options{
		Printer: s.printer,
		Known:   s.journal.Known,
		Secret:  secret,
		Copies:  copies,
		OnError: func(err error) {
			if !s.invalid.sending {
				fmt.Fprintln(s.notes, err)
			}
		},
		OnWarning: func(err error) { // said once, by the check
			if !s.invalid.sending {
				fmt.Fprintf(s.notes, "warning: %v\n", err)
			}
		},
		OnInvalid: s.invalid.record,
		Select:    opts.Select,
	})
	s.pool = &sender.Pool{
		Transport:     s.transport,
		Journal:       s.journal,
		Build:         s.campaign.Build,
		Concurrency:   cfg.Send.Concurrency,
		Limit:         sender.NewLimiter(cfg.Send.Rate.N, cfg.Send.Rate.Per),
		MaxAttempts:   cfg.Send.MaxAttempts,
		PerSession:    cfg.Send.MessagesPerConnection,
		Backoff:       cfg.Send.RetryDelay,
		OpenTries:     openTries,
		PolicyStop:    policyStop,
		ResendUnknown: opts.ResendUnknown,
		Redirect:      opts.Redirect,
		Log:           opts.Log,
	}

	// A mailing sent in full before says so without making its letters
	// again (a million of them take a minute). One that saves copies
	// looks for copies still to save.
	if sum, states, ok := s.campaign.Settled(ctx, s.journal, s.target()); ok && !cfg.IMAP.SaveCopies {
		st := sender.Stats{Letters: sum.Letters, Skipped: states}
		return &SendResult{Summary: sum, Letters: sum.Letters, Stats: st, Settled: true}, Remaining(st, sum.Letters, nil, cfg)
	}

	// Letters sent before from a copy of this mailing elsewhere, or of
	// unknown fate, that the Sent folder holds: delivered, not sent again.
	if err := s.lookInSent(ctx); err != nil {
		return nil, err
	}
	plan, skip, err := s.plan(ctx)
	if err != nil {
		return nil, err
	}
	return s.deliver(ctx, plan, skip)
}

// plan checks every row and finds what the run will do: nothing is sent
// unless every row is right (or --skip-invalid leaves the wrong ones out).
func (s *send) plan(ctx context.Context) (plan campaign.Plan, skip bool, err error) {
	plan, err = s.campaign.Plan(ctx, s.journal, s.target())
	skip = s.opts.SkipInvalid && errors.Is(err, campaign.ErrProblems) && plan.Skippable()
	if skip {
		fmt.Fprintf(s.notes, "%s make no letter: --skip-invalid leaves them out and records them\n", Plural(plan.Invalid, "row"))
	} else if err := Problems(plan.Summary, err); err != nil {
		var e *Error
		if s.opts.SkipInvalid && errors.As(err, &e) && e.Kind == Data {
			e.Hint += "\n--skip-invalid leaves out rows that make no letter, not a problem with the template, the CSV header or the file itself (a stray quote: the rest of the file cannot be read)"
		}
		return plan, false, err
	}
	if err := NoneChosen(s.opts.Select, plan.Summary); err != nil {
		return plan, false, err
	}
	if plan.Letters == 0 {
		return plan, false, &Error{Kind: Data, Err: errors.New("no letters to send")}
	}
	if s.opts.Redirect == nil {
		if err := s.notePlan(plan); err != nil {
			return plan, false, err
		}
	}
	return plan, skip, nil
}

// deliver sends the letters of the plan, then saves their copies.
func (s *send) deliver(ctx context.Context, plan campaign.Plan, skip bool) (*SendResult, error) {
	cfg, opts, pool := s.cfg, s.opts, s.pool
	if opts.Planned != nil {
		opts.Planned(plan)
	}
	win, err := openWindow(cfg, s.transport.Destination(), s.now())
	if err != nil {
		return nil, err
	}
	limits, err := runLimit(opts.Limit, win)
	if err != nil {
		return nil, err
	}
	pool.MaxLetters, pool.Budget = limits.max, limits.budget
	run := s.runTotal(plan)
	if limits.budget > 0 && run > limits.budget {
		run = limits.budget // at most: every letter has a recipient
	}
	if plan.ToSend > 0 && s.campaign.Prints() {
		// Letters print their pages as they go: a browser that is
		// missing or will not start stops the run before the
		// question, and before the first letter.
		if err := s.printer.Start(ctx); err != nil {
			return nil, printError(cfg, err)
		}
	}
	if plan.ToSend > 0 && opts.Confirm != nil {
		due := plan.ToSend
		if opts.Redirect != nil {
			due = run // a test: no days to plan
		}
		c := Confirmation{Plan: plan, Run: run, DailyLeft: limits.left, Via: s.transport.Describe(),
			Estimate: estimate(run, due, limits.left, cfg.Send.DailyLimit, cfg.Send.CountsRecipients(), cfg.Send.Rate)}
		if err := opts.Confirm(c); err != nil {
			return nil, err
		}
	}
	if plan.ToSend > 0 {
		if err := Credentials(ctx, cfg, s.transport, opts.Ask); err != nil {
			return nil, err
		}
	}
	var sent *sentFolder
	if opts.Redirect == nil {
		if sent, err = openSentFolder(ctx, cfg, opts.Ask); err != nil {
			return nil, err
		}
	}
	s.journal.Grow(plan.ToSend)
	var watch Watch
	if opts.Watch != nil {
		watch = opts.Watch(run)
	}
	pool.Progress, pool.OnRecord = watch.Progress, watch.Record
	s.invalid.sending = true

	hard := ctx
	if opts.Interrupt != nil {
		var stop context.CancelFunc
		hard, stop = opts.Interrupt(ctx)
		defer stop()
	}
	st, runErr := pool.Run(ctx, hard, func(yield func(*letter.Letter) bool) error {
		_, err := s.campaign.Letters(ctx, func(l *letter.Letter, _ *recipients.Record) error {
			if !yield(l) {
				return campaign.ErrStop
			}
			return nil
		})
		if errors.Is(err, campaign.ErrProblems) && !(skip && len(s.invalid.lines) == plan.Invalid) {
			return errors.New("the recipients or the template changed since the check; stopped")
		}
		if errors.Is(err, campaign.ErrProblems) {
			return nil // the invalid rows, recorded
		}
		return err
	})
	if watch.Finish != nil {
		watch.Finish(st)
	}
	res := &SendResult{Summary: plan.Summary, Letters: plan.Letters, Suppressed: plan.Suppressed, Stats: st, Invalid: s.invalid.lines}
	if opts.Redirect != nil {
		return res, testRemaining(st, runErr, cfg)
	}
	if sent != nil && ctx.Err() == nil {
		n, err := sent.save(ctx, s.campaign, s.journal, s.transport.Destination())
		res.Copies = n
		if err != nil {
			res.CopiesFailed = true
			return res, err
		}
	}
	return res, invalidRemaining(s.invalid.lines, atWindow(Remaining(st, plan.Letters, runErr, cfg), st, runErr, opts.Limit, limits), cfg)
}

// atWindow says, in err's place, that the run stopped at
// send.daily_limit, when that is what left letters to send: nothing
// else stopped it (an interrupt, the server, --limit) and nothing worse
// is left.
func atWindow(err error, st sender.Stats, runErr error, limit int, limits runLimits) error {
	var e *Error
	if limits.window == nil || runErr != nil || st.Untouched == 0 || !errors.As(err, &e) || e.Kind != Rerun || st.Unknowns() > 0 {
		return err
	}
	if limit > 0 && st.Sent() >= limit {
		return err // --limit stopped it first
	}
	return limits.window.stopped(st.Sent())
}

// runTotal is how many letters this run is to send.
func (s *send) runTotal(plan campaign.Plan) int {
	n := plan.ToSend
	if s.opts.Redirect != nil {
		n = plan.Letters
	}
	if s.pool.MaxLetters > 0 && s.pool.MaxLetters < n {
		n = s.pool.MaxLetters
	}
	return n
}

// target is where the run sends, and what of the journal it heeds.
func (s *send) target() campaign.Target {
	return campaign.Target{Dest: s.transport.Destination(), ResendUnknown: s.opts.ResendUnknown, Test: s.opts.Redirect != nil}
}

func (s *send) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// register takes the lock of the campaign's name in the user's registry
// of mailings and records this journal there (journal.Register).
func register(cfg *config.Config) (*journal.Registration, error) {
	dir, err := journal.StateDir()
	if err != nil {
		return nil, err
	}
	return journal.Register(dir, cfg.Campaign, cfg.Send.Journal)
}

// openJournal opens a mailing's journal; hint says what to do when
// another command holds it.
func openJournal(path, hint string) (*journal.Journal, error) {
	j, err := journal.Open(path)
	switch {
	case errors.Is(err, journal.ErrLocked):
		return nil, &Error{Kind: Locked, Err: err, Hint: hint}
	case errors.Is(err, journal.ErrNotAFile):
		return nil, &Error{Kind: Config, Err: err}
	case err != nil:
		return nil, &Error{Kind: Internal, Err: err}
	}
	return j, nil
}
