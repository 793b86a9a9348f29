package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// Transport opens sessions: SMTP connections, or a Maildir folder.
type Transport interface {
	// Open starts session number n. A *RunError ends the run; other
	// errors may pass and are tried again.
	Open(ctx context.Context, n int) (Session, error)
	// Describe names the destination for people.
	Describe() string
	// Destination names the destination in the journal: letters
	// delivered to one are not delivered to another.
	Destination() string
	// Hint says in plain words what a failure to open a session most
	// likely means, and what to change; "" when it cannot tell.
	Hint(ctx context.Context, err error) string
}

// Session delivers letters one at a time. It is owned by one worker.
type Session interface {
	// Send makes one attempt at tx.Letter. It calls beforeEOD at the
	// point of no return (before the final dot), with the recipients
	// refused so far, and stops there if that fails.
	Send(ctx context.Context, tx Tx, beforeEOD func(refused []journal.Rejection) error) Result
	// TakesNext reports whether Send can send the envelope of the letter
	// after with the end of this one (Tx.Next), saving a round trip: an
	// SMTP session where the server pipelines (RFC 2920 §3.1).
	TakesNext() bool
	// Alive reports whether the session can take a letter after a rest:
	// an SMTP session idle for long asks the server (NOOP).
	Alive() bool
	// Abort ends the session without a word: after a 421 or a network
	// error, no QUIT and no RSET.
	Abort()
	// Close ends the session politely (QUIT).
	Close() error
}

// Tx is one attempt at a letter, as a worker hands it to its session.
type Tx struct {
	Letter *letter.Letter
	Data   []byte // the letter written out
	// Next is the letter the worker sends after this one on the session,
	// written out, when it has it already and the session TakesNext: its
	// envelope goes with the end of this one, and the worker's next Send
	// is of it. Its own Next and Last are unused.
	Next *Tx
	// Last says the session ends with this letter: an SMTP session sends
	// its QUIT with the end of the message.
	Last bool
}

// Journal is what a pool does with the journal of its letters: it asks
// what is still due, and records every attempt. *journal.Journal is one;
// a journal in PostgreSQL is another.
type Journal interface {
	// Due says what of the letter l is still to send to dest
	// (journal.Journal.Due).
	Due(l *letter.Letter, dest string, resendUnknown bool) (journal.Entry, []string)
	// Lookup returns what the journal knows of the letter with key at
	// dest.
	Lookup(key letter.Key, dest string) journal.Entry
	// Append queues a record that a crash may lose: it is written with
	// the next Commit.
	Append(journal.Record) error
	// Write records an outcome: it survives a crash of the process, and
	// is durable with the next Commit.
	Write(journal.Record) error
	// Commit records the eod before a letter's final dot, and returns
	// once it, and every record before it, is durable.
	Commit(journal.Record) error
}

// Pool delivers letters through its accounts' sessions: Concurrency
// sessions of Transport, at the pace of Limit, or, when Accounts is set,
// through those.
type Pool struct {
	Transport Transport
	// Accounts, when set, are the ways out, in place of Transport,
	// Concurrency and Limit: each letter goes through one of them. They
	// share a Destination.
	Accounts []Account
	Journal  Journal
	// Claims, when set, is the journal as other processes share it: a
	// letter goes out from this run only once it holds its lease.
	Claims Claims
	// ClaimPoll is how often a run asks again for letters other
	// processes hold, once it reached the end of its own; 0 for a second.
	ClaimPoll time.Duration
	// OnWait, if set, is told how many letters other processes hold when
	// the run, at the end of its list, starts waiting for them.
	OnWait    func(letters int)
	elsewhere sync.Map // letter.Key: settled by another process during the run
	unclaimed sync.Map // letter.Key: let in without its lease, not to be sent
	// Build writes a letter out. It runs once per letter, in the worker
	// that first sends it; the bytes are kept for the letter's retries.
	// Its context ends when the letters in flight are to be abandoned
	// (Run's hard), and the letter is then left untouched.
	Build       func(context.Context, *letter.Letter) ([]byte, error)
	Concurrency int
	// Limit is shared by all sessions; nil means no limit.
	Limit Limiter
	// Shared is Transport's daily limit as other processes share it
	// (Account.Shared); nil for none.
	Shared Allowance
	// MaxAttempts per letter in this run for temporary failures.
	MaxAttempts int
	// PerSession is how many letters one session sends before it
	// reconnects.
	PerSession int
	// Backoff is the first retry delay; it doubles with every attempt,
	// with jitter, up to a minute.
	Backoff time.Duration
	// OpenTries is how many times a worker tries to open a session
	// before it gives up.
	OpenTries int
	// PolicyStop is how many policy or quota rejections in a row stop
	// dispatching.
	PolicyStop int
	// MaxLetters, if positive, is how many letters this run may send;
	// the rest are left untouched.
	MaxLetters int
	// Budget, if positive, is how many recipients this run may send to:
	// each letter costs its envelope recipients still due (one in a test
	// run). Dispatching stops before the first letter that would go past
	// it; that letter and the rest are left untouched.
	Budget int
	// ResendUnknown sends letters whose outcome is unknown again.
	ResendUnknown bool
	// Redirect, if set, makes this a test run: every letter goes to this
	// address alone (letter.Redirect), whatever the journal says of it,
	// and is recorded as a test send, which settles nothing.
	Redirect *address.Mailbox
	// TestSubject goes before the subject of each test letter (Redirect).
	TestSubject string
	Log         *slog.Logger
	// Progress, if set, is called after every change of the counts.
	Progress func(Stats)
	// OnRecord, if set, is called with the record of every attempt's
	// outcome once it is in the journal, from the sessions' goroutines.
	OnRecord func(journal.Record)
}

// Lookup says what a run of p does with l: the journal's entry for it at
// the transport's destination, and the recipients still due
// (journal.Journal.Due), none when the letter is settled. A test run (Redirect)
// sends every letter, afresh. Both the check before a send and the send
// go by this.
func (p *Pool) Lookup(l *letter.Letter) (journal.Entry, []string) {
	if p.Redirect != nil {
		return journal.Entry{}, l.Recipients
	}
	return p.Journal.Due(l, p.destination(), p.ResendUnknown)
}

// accounts are the pool's ways out: Accounts, or the one of Transport.
func (p *Pool) accounts() []Account {
	if len(p.Accounts) > 0 {
		return p.Accounts
	}
	return []Account{{Transport: p.Transport, Concurrency: p.Concurrency, Limit: p.Limit, Shared: p.Shared}}
}

// destination is where the pool's letters go, as the journal has it.
func (p *Pool) destination() string {
	return p.accounts()[0].Transport.Destination()
}

// state folds what the journal says of l's recipients (journal.Fold).
func state(l *letter.Letter, e journal.Entry) journal.State {
	var states []journal.State
	var own []bool
	for i, r := range l.Recipients {
		if l.IsSuppressed(r) {
			continue // never mailed: no state of its own
		}
		s, _ := e.StateOf(r)
		states = append(states, s)
		own = append(own, i >= len(l.Sources) || l.Sources[i] != "")
	}
	return journal.Fold(states, own)
}

// ErrInterrupted is the cause when dispatching stopped on request.
var ErrInterrupted = errors.New("interrupted")

// job is a letter on its way through the pool.
type job struct {
	letter   *letter.Letter // the letter of the row
	l        *letter.Letter // what is sent: the letter, to the recipients still due (or a test copy)
	part     bool           // l goes to some of letter's recipients
	data     []byte         // built on the first attempt
	attempt  int            // attempts made, counting earlier runs
	before   int            // attempts made by earlier runs: each run makes up to MaxAttempts of its own
	deferred bool           // an attempt in this run was temporary
	paid     bool           // the rate limit let this attempt go already (its envelope went early)
	buildErr error          // why it could not be written out when taken early
	lane     *lane          // the account of its last attempt; nil before one
}

// to returns a job's letter for recipients, a subset of the row's.
func (j *job) to(recipients []string) {
	if len(recipients) == len(j.letter.Recipients) {
		j.l, j.part = j.letter, false
		return
	}
	c := *j.letter
	c.Recipients, c.Sources = nil, nil
	for i, r := range j.letter.Recipients {
		if slices.ContainsFunc(recipients, func(x string) bool { return strings.EqualFold(x, r) }) {
			c.Recipients = append(c.Recipients, r)
			if i < len(j.letter.Sources) {
				c.Sources = append(c.Sources, j.letter.Sources[i])
			}
		}
	}
	j.l, j.part = &c, true
}

// report is what a worker says of a job it took: what the attempt came
// to, or that none was made.
type report struct {
	j     *job
	state journal.State // the outcome recorded for the recipients accepted; "" when no attempt was made
	retry bool          // another attempt may help the temporary outcomes
	res   Result
	lane  *lane // the account of the worker
	gone  bool  // the worker leaves the pool after this job
	// stop, when not nil, says the account cannot be used (its login
	// refused): it stops. refused says no session of it would open: it
	// pauses. Either way the job was not tried.
	stop, refused *RunError
	// heard, when not nil, hears once the dispatcher has taken the
	// report: a worker waits for it before its next letter, so that a
	// stop the report brings (PolicyStop) holds that letter back.
	heard chan<- struct{}
}

// temporary lists the recipients of the attempt whose outcome was
// temporary: the accepted ones when the transaction's was, and those
// refused for now.
func (r report) temporary() []string {
	var out []string
	refused := map[string]bool{}
	for _, rej := range r.res.Rejected {
		refused[strings.ToLower(rej.Rcpt)] = true
		if rej.Final() == journal.Deferred {
			out = append(out, rej.Rcpt)
		}
	}
	if r.state == journal.Deferred {
		for _, rcpt := range r.j.l.Recipients {
			if !refused[strings.ToLower(rcpt)] {
				out = append(out, rcpt)
			}
		}
	}
	return out
}

// Run delivers the letters that each yields. It stops dispatching when ctx
// is cancelled (letters in flight finish and are recorded) and aborts
// in-flight transactions when hard is cancelled. each must call its
// function for every letter, in order, and stop when it returns false.
//
// One goroutine, the dispatcher, owns every letter's fate: it takes the
// letters, hands them to the workers, hears what became of each, and
// schedules retries, so each letter is counted in one place (Stats). The
// workers own their sessions and write the journal.
func (p *Pool) Run(ctx, hard context.Context, each func(func(*letter.Letter) bool) error) (Stats, error) {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Concurrency < 1 {
		p.Concurrency = 1
	}
	var lanes []*lane
	workers := 0
	for _, a := range p.accounts() {
		if a.Transport.Destination() != p.destination() {
			return Stats{}, fmt.Errorf("accounts %q and %q send to different destinations", p.accounts()[0].Name, a.Name)
		}
		ln := newLane(a)
		ln.ctx = ctx
		lanes = append(lanes, ln)
		workers += max(a.Concurrency, 1)
	}
	dispatch, stopDispatch := context.WithCancelCause(ctx)
	defer stopDispatch(nil)
	g, gctx := errgroup.WithContext(hard)
	// A run-level failure stops dispatching too, so retries waiting for
	// their turn give up at once rather than after their backoff.
	defer context.AfterFunc(gctx, func() { stopDispatch(context.Cause(gctx)) })()

	// The dispatcher takes every letter, to the end of the list, even
	// when the run stops: each is counted.
	full := new(atomic.Bool) // set once the run has no room for letters more
	if p.Claims != nil && p.Redirect == nil {
		each = p.claiming(dispatch, full, each)
	}
	letters := make(chan *letter.Letter)
	var produceErr error
	go func() {
		defer close(letters)
		produceErr = each(func(l *letter.Letter) bool {
			letters <- l
			return true
		})
	}()

	// Jobs wait in work, so that a worker finds the next letter there
	// at once, its envelope to go with the end of the one before
	// (worker.takeNext), even while the dispatcher is busy.
	c := &crew{pool: p, reports: make(chan report), room: make(chan struct{}, 1), gctx: gctx, hard: hard, dest: p.destination(),
		dispatch: dispatch, stopDispatch: stopDispatch}
	id := 0
	for _, ln := range lanes {
		for i := range ln.Concurrency {
			id++
			n := id
			g.Go(func() error { return c.run(ln, n, i == 0) })
		}
	}
	d := &dispatcher{p: p, crew: c, lanes: lanes, letters: letters, dispatch: dispatch, stopDispatch: stopDispatch, full: full,
		workers: workers, stats: Stats{Skipped: map[journal.State]int{}}}
	for _, ln := range lanes {
		d.countAccount(ln, func(*AccountStats) {}) // every named account in the counts
	}
	d.loop()
	for _, ln := range lanes {
		d.closeLane(ln)
	}
	err := g.Wait()
	for _, ln := range lanes {
		if gerr := ln.giveBack(); err == nil {
			err = gerr
		}
	}

	if err == nil && produceErr != nil && !(errors.Is(produceErr, context.Canceled) && ctx.Err() != nil) {
		err = produceErr
	}
	if err == nil {
		if cause := context.Cause(dispatch); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		} else if ctx.Err() != nil {
			err = ErrInterrupted
		}
	}
	st := d.stats.copy()
	var re *RunError
	if errors.As(err, &re) && re.Kind == ErrQuota {
		st.Quota = re.Hint
	}
	return st, err
}

// backoff is base·2^(attempt-1), capped at a minute, with ±25% jitter.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 10)
	d = min(d, time.Minute)
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
