package mailing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/pdf"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
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
	Shard         campaign.Shard       // send --shard: the part of a split mailing to send; zero for all
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
	// Now is the send's clock: of send.daily_limit's window, of the
	// letters' send times (recipients.send_after, At) and of the
	// journal's records; nil for time.Now.
	Now func() time.Time

	// Wait keeps the send going until every letter is delivered or
	// failed (send --wait): while send.daily_limit's window is full,
	// while letters wait for their send time, and for a while after
	// temporary failures, it sleeps, saying until when, and sends again.
	Wait bool
	// At is when to start sending (send --at), as the user wrote it: a
	// time of day (the next such), a date and time, or RFC 3339; "" for
	// now. The rows are checked, and the send confirmed, before the wait.
	At string
	// Sleep waits d, or until ctx ends, when it returns ctx's error;
	// nil for a timer. Tests give one that moves their clock.
	Sleep func(ctx context.Context, d time.Duration) error
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
	Estimate  string // how long it takes, over how many days, what waits; "" if nothing to say
	Via       string // the transport, for people
	// Duration is how long sending this run's letters takes at the
	// accounts' rates, within their windows; 0 when not known.
	Duration time.Duration
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
//
// With Wait or At, it may send in several rounds, and sleep between
// them (wait.go).
func Send(ctx context.Context, cfg *config.Config, opts SendOptions) (*SendResult, error) {
	s := &send{cfg: cfg, base: cfg.Send.Journal, opts: opts, notes: opts.Notes}
	if opts.Shard.Split() && cfg.Send.JournalInDB() {
		return nil, &Error{Kind: Usage, Err: errors.New("--shard splits a mailing whose journal is a file; a journal in PostgreSQL is one for every machine")}
	}
	if opts.Shard.Split() {
		// The shard's journal in the mailing's place: whatever reads or
		// writes "the journal" (the window of send.daily_limit, the
		// copies saved) is the shard's.
		c := *cfg
		c.Send.Journal = ShardJournal(cfg.Send.Journal, opts.Shard)
		s.cfg = &c
	}
	if s.notes == nil {
		s.notes = io.Discard
	}
	if s.opts.Log == nil {
		s.opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := s.schedule(); err != nil {
		return nil, err
	}
	return s.run(ctx)
}

// send is one run of Send.
type send struct {
	cfg       *config.Config // a shard's has the shard's journal (ShardJournal)
	base      string         // the mailing's journal unsplit, whose secret every shard shares
	opts      SendOptions
	notes     io.Writer
	transport sender.Transport // the first account's: they share a destination
	accounts  []*outbound
	journal   Journal
	campaign  *campaign.Campaign
	pool      *sender.Pool
	invalid   *invalidRows
	copies    []string // journals of this mailing's copies in other folders
	secret    []byte   // the campaign's (journal.Secret)

	// What the rounds of a send that waits (wait.go) share.
	start    time.Time    // when to start (send --at); zero for now
	now      time.Time    // the clock when this round began: what is held is held at it
	later    bool         // a round after the first: it says less and asks nothing
	loggedIn bool         // the transport has its credentials
	sentOpen bool         // the Sent folder is open, or none is to be
	sent     *sentFolder  // where copies are saved; nil for none
	left     left         // what this round left for later
	printer  *pdf.Printer // prints PDF attachments; one browser a round
}

func (s *send) run(ctx context.Context) (*SendResult, error) {
	closeAll, err := s.open(ctx)
	defer closeAll()
	if err != nil {
		return nil, err
	}
	if s.waits() {
		return s.rounds(ctx)
	}
	return s.round(ctx)
}

// open readies what every round of the send shares: the trace, the
// transport, the lock of the campaign's name with the journals of its
// copies, and the journal with its secret. closeAll gives them back, in
// the right order, whatever open returns.
func (s *send) open(ctx context.Context) (closeAll func(), err error) {
	cfg, opts := s.cfg, s.opts
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var trace *sender.Trace
	if opts.Trace != "" {
		tf, err := os.OpenFile(opts.Trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return closeAll, err
		}
		closers = append(closers, func() { tf.Close() })
		trace = sender.NewTrace(tf)
	}
	if s.accounts, err = outbounds(cfg, trace); err != nil {
		return closeAll, err
	}
	s.transport = s.accounts[0].transport
	dest := s.transport.Destination()

	// Copies of this mailing in other folders of this machine: one send of
	// the campaign's name at a time, and their journals for the plan. The
	// lock is given back after the journal is closed (deferred first). A
	// journal in a database has one place, and its own lock of the
	// campaign, for every machine.
	if opts.Redirect == nil && dest == journal.SMTP && !cfg.Send.JournalInDB() {
		reg, err := register(cfg, opts.Shard)
		if errors.Is(err, journal.ErrCampaignBusy) {
			hint := "wait for that send to finish; a copy of this folder is the same mailing, and must not send it again"
			if opts.Shard.Split() {
				hint = "wait for that send to finish: the shards of one split run together from one folder, each once; a copy of this folder is the same mailing, and must not send it again"
			}
			return closeAll, &Error{Kind: Locked, Err: err, Hint: hint}
		}
		if err != nil {
			fmt.Fprintf(s.notes, "warning: %v: copies of this mailing in other folders are not looked for\n", err)
		}
		closers = append(closers, func() { reg.Release() })
		if reg != nil {
			s.copies = reg.Others
		}
	}

	// A mailing is sent whole or in one split, never both.
	if opts.Redirect == nil {
		if err := checkSplit(s.base, opts.Shard); err != nil {
			return closeAll, err
		}
	}
	// The journal first: its lock keeps a second send of this campaign out
	// from the start, and it tells which letters are still to send.
	// With it the key of the tags that make this mailing's Message-IDs
	// and ENVIDs impossible to forge: made with the journal, kept with it.
	hint := "wait for the other send to finish, or stop it (Ctrl-C) and run send again"
	if opts.ResendUnknown && cfg.Send.JournalInDB() {
		hint = "send --resend-unknown needs the mailing alone: wait for the other sends of it to finish, or leave --resend-unknown out to send with them"
	}
	if s.journal, s.secret, err = openJournal(ctx, cfg, opts.Now, s.notes, journalUse{
		hint: hint, secret: !opts.Shard.Split(),
		// A letter of unknown fate may be one another machine is still
		// sending: it is sent again only by a send alone.
		alone: opts.ResendUnknown}); err != nil {
		return closeAll, err
	}
	closers = append(closers, func() { s.journal.Close() })
	closers = append(closers, tuneGC(cfg.Recipients.File)) // the index, a million letters' worth, is in
	if opts.Shard.Split() {
		// The shards of a split share the mailing's secret, beside its
		// own journal.
		had, _ := journal.Secret(s.base, false)
		if s.secret, err = journal.Secret(s.base, true); err != nil {
			return closeAll, fail(Internal, err)
		}
		if had == nil && opts.Redirect == nil {
			fmt.Fprintf(s.notes, "note: made the mailing's secret, %s: shards on other machines need a copy of it beside their config before they send, for their letters' Message-IDs to be of one mailing\n", filepath.Base(s.base)+".secret")
		}
	}
	return closeAll, nil
}

// round checks every row and sends the letters due, with what open
// readied.
func (s *send) round(ctx context.Context) (*SendResult, error) {
	cfg, opts := s.cfg, s.opts
	dest := s.transport.Destination()
	s.now, s.left = s.clock(), left{}
	// During the check, problems are said; while sending, the invalid
	// rows a --skip-invalid send leaves out are recorded instead.
	s.invalid = &invalidRows{j: s.journal, campaign: cfg.Campaign, dest: dest, test: opts.Redirect != nil, shard: opts.Shard}
	s.printer = newPrinter(cfg)
	defer s.printer.Close() // the browser ends with the run, Ctrl-C or not
	s.campaign = campaign.New(cfg, campaign.Options{
		Printer: s.printer,
		Known:   s.journal.Known,
		Secret:  s.secret,
		Copies:  s.copies,
		OnError: func(err error) {
			if !s.invalid.sending {
				fmt.Fprintln(s.notes, err)
			}
		},
		OnWarning: func(err error) { // said once, by the first check
			if !s.invalid.sending && !s.later {
				fmt.Fprintf(s.notes, "warning: %v\n", err)
			}
		},
		OnInvalid: s.invalid.record,
		Select:    opts.Select,
		Shard:     opts.Shard,
		Now:       opts.Now,
	})
	s.pool = &sender.Pool{
		Transport:     s.transport,
		Journal:       s.journal,
		Build:         s.campaign.Build,
		Concurrency:   cfg.Send.Concurrency,
		Limit:         s.pace("", cfg.Send.Rate),
		MaxAttempts:   cfg.Send.MaxAttempts,
		PerSession:    cfg.Send.MessagesPerConnection,
		Backoff:       cfg.Send.RetryDelay,
		OpenTries:     openTries,
		PolicyStop:    policyStop,
		ResendUnknown: s.resendUnknown(),
		Redirect:      opts.Redirect,
		TestSubject:   cfg.Send.TestSubjectPrefix,
		Log:           opts.Log,
	}
	if pj, ok := s.journal.(*pgjournal.Journal); ok {
		s.pool.Claims = pj // other machines may send the campaign at once
		lease := cfg.Send.Lease
		if lease == 0 {
			lease = pgjournal.DefaultLease
		}
		s.pool.OnWait = func(n int) {
			fmt.Fprintf(s.notes, "waiting for %s that other sends of this mailing are sending: each goes from there, or from here if they stop answering for %v (send.lease)\n",
				Plural(n, "letter"), lease)
		}
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
	// (Later rounds of the send find none: it holds the mailing.)
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
		n := plan.Invalid
		them := agree(n, "it", "them")
		records := " and records " + them
		if s.opts.Redirect != nil {
			records = "" // a test send records nothing
		}
		fmt.Fprintf(s.notes, "%s %s no letter: --skip-invalid leaves %s out%s\n", Plural(n, "row"), agree(n, "makes", "make"), them, records)
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
	if plan.Letters == 0 && plan.OtherShards == 0 { // a shard may have none
		return plan, false, &Error{Kind: Data, Err: errors.New("no letters to send")}
	}
	if err := s.startPassed(plan); err != nil {
		return plan, false, err
	}
	if s.opts.Redirect == nil && !s.later {
		if err := s.notePlan(plan); err != nil {
			return plan, false, err
		}
	}
	s.noteShard(plan)
	return plan, skip, nil
}

// deliver sends the letters of the plan, then saves their copies. In a
// send that waits, it may send nothing: the window is full, or send --at
// has not come; s.left says what is left for later.
func (s *send) deliver(ctx context.Context, plan campaign.Plan, skip bool) (*SendResult, error) {
	cfg, opts, pool := s.cfg, s.opts, s.pool
	if opts.Planned != nil && !s.later {
		opts.Planned(plan)
	}
	limits, win, limitErr := s.limits()
	var ke *Error
	full := errors.As(limitErr, &ke) && ke.Kind == Rerun && (opts.Wait || s.start.After(s.now)) // a send that waits waits for the window
	if limitErr != nil && !full {
		return nil, limitErr
	}
	var err error
	pool.MaxLetters, pool.Budget = limits.max, limits.budget
	run := s.runTotal(plan)
	if limits.budget > 0 && run > limits.budget {
		run = limits.budget // at most: every letter has a recipient
	}
	if full {
		run = 0
	}
	someday := plan.ToSend > 0 || opts.Wait && plan.Held > 0 // letters this send will send
	if plan.ToSend > 0 && s.campaign.Prints() {
		// Letters print their pages as they go: a browser that is
		// missing or will not start stops the run before the
		// question, and before the first letter.
		if err := s.printer.Start(ctx); err != nil {
			return nil, printError(cfg, err)
		}
	}
	if someday && opts.Confirm != nil && !s.later {
		if err := opts.Confirm(s.confirmation(plan, run, limits, win)); err != nil {
			return nil, err
		}
	}
	if someday && !s.loggedIn {
		if err := s.credentialsAll(ctx); err != nil {
			return nil, err
		}
		s.loggedIn = true
	}
	if opts.Redirect == nil && !s.sentOpen {
		if s.sent, err = openSentFolder(ctx, cfg, opts.Ask); err != nil {
			return nil, err
		}
		s.sentOpen = true
	}
	s.left = left{held: plan.Held, heldFirst: plan.HeldFirst, heldLast: plan.HeldLast}
	switch {
	case s.start.After(s.clock()): // checked and confirmed: now the wait
		s.left.start = s.start
		s.left.due = plan.ToSend
		return nil, nil
	case full:
		s.left.due, s.left.window, s.left.err = plan.ToSend, true, limitErr
		return nil, nil
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
	target := s.target()
	st, runErr := pool.Run(ctx, hard, func(yield func(*letter.Letter) bool) error {
		_, err := s.campaign.Letters(ctx, func(l *letter.Letter, _ *recipients.Record) error {
			if target.Holds(l) {
				return nil // not now, and not an attempt: nothing recorded
			}
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
	s.left.deferred, s.left.stopped = st.Deferred, runErr != nil
	if (limits.window != nil || len(limits.windows) > 0) && runErr == nil && st.Untouched > 0 {
		s.left.due, s.left.window = st.Untouched, true
	}
	res := &SendResult{Summary: plan.Summary, Letters: plan.Letters, Suppressed: plan.Suppressed, Stats: st, Invalid: s.invalid.lines}
	if opts.Redirect != nil {
		return res, testRemaining(st, runErr, cfg)
	}
	if s.sent != nil && ctx.Err() == nil {
		n, err := s.sent.save(ctx, s.campaign, s.journal, s.transport.Destination())
		res.Copies = n
		if err != nil {
			res.CopiesFailed = true
			return res, err
		}
	}
	err = atWindow(Remaining(st, plan.Letters, runErr, cfg), st, runErr, opts.Limit, limits)
	return res, invalidRemaining(s.invalid.lines, s.heldRemaining(err, plan), cfg)
}

// atWindow says, in err's place, that the run stopped at
// send.daily_limit, when that is what left letters to send: nothing
// else stopped it (an interrupt, the server, --limit) and nothing worse
// is left.
func atWindow(err error, st sender.Stats, runErr error, limit int, limits runLimits) error {
	var e *Error
	if limits.window == nil && len(limits.windows) == 0 || runErr != nil || st.Untouched == 0 || !errors.As(err, &e) || e.Kind != Rerun || st.Unknowns() > 0 {
		return err
	}
	if limit > 0 && st.Sent() >= limit {
		return err // --limit stopped it first
	}
	if limits.window == nil {
		return stoppedAtWindows(limits.windows, st.Sent())
	}
	return limits.window.stopped(st.Sent())
}

// sendingTime is how long the run letters take at the accounts' rates
// (sendingTime).
func (s *send) sendingTime(run int) time.Duration {
	accounts := s.pool.Accounts
	if len(accounts) == 0 {
		accounts = []sender.Account{{MaxLetters: s.pool.MaxLetters, Budget: s.pool.Budget}}
	}
	var rates []config.Rate
	for _, a := range accounts {
		for _, ob := range s.accounts {
			if ob.name == a.Name {
				rates = append(rates, ob.cfg.Send.Rate)
			}
		}
	}
	return sendingTime(run, accounts, rates)
}

// limits finds what this run may send, and through which accounts:
// --limit, and what is left of each account's daily window.
// win is the window of smtp:'s one account (nil for none, or with
// accounts:), full or not.
func (s *send) limits() (limits runLimits, win *window, err error) {
	if len(s.cfg.Accounts) == 0 {
		win, err := openWindow(s.cfg, s.transport.Destination(), "", s.clock())
		if err != nil {
			return runLimits{}, nil, err
		}
		s.pool.Shared = s.shared(win)
		limits, err := runLimit(s.opts.Limit, win)
		return limits, win, err
	}
	accounts, limits, err := s.accountLimits(s.clock())
	s.pool.Accounts = accounts
	return limits, nil, err
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
	return campaign.Target{Dest: s.transport.Destination(), ResendUnknown: s.resendUnknown(), Test: s.opts.Redirect != nil, Now: s.now}
}

// resendUnknown says whether this round sends letters of unknown fate
// again: the first round of a send with --resend-unknown. A letter sent
// again and again of unknown fate is not sent a third time by a later
// round of the same send.
func (s *send) resendUnknown() bool { return s.opts.ResendUnknown && !s.later }

// clock reads the send's clock.
func (s *send) clock() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// register takes the lock of the campaign's name in the user's registry
// of mailings and records this journal there (journal.Register; for a
// shard, journal.RegisterShard).
func register(cfg *config.Config, shard campaign.Shard) (*journal.Registration, error) {
	dir, err := journal.StateDir()
	if err != nil {
		return nil, err
	}
	if shard.Split() {
		return journal.RegisterShard(dir, cfg.Campaign, cfg.Send.Journal, shard.K, shard.N)
	}
	return journal.Register(dir, cfg.Campaign, cfg.Send.Journal)
}
