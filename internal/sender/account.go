package sender

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Account is one way out for a mailing's letters: a transport (an SMTP
// server and its login) with limits of its own. A pool with several
// sends each letter through one of them: the one with room for it, in
// proportion to their weights. An account whose server will not take
// letters for now is paused, and its letters go to the others; one whose
// login is refused, or whose provider's quota is reached, is stopped
// alone. The run stops when none is left.
type Account struct {
	// Name names the account to people and in the journal (each
	// attempt's Record.Account); "" for a mailing's one account.
	Name        string
	Transport   Transport
	Concurrency int     // sessions at once; at least 1
	Limit       Limiter // its rate; nil for none
	// Weight is its share of the letters against the others', when
	// several have room; 0 counts as 1.
	Weight int
	// MaxLetters and Budget, when positive, are what it may take in this
	// run, in letters and in recipients (what is left of its daily
	// window). A letter that fits no account's is left untouched.
	MaxLetters int
	Budget     int
	// Shared, when set, is its daily limit as other processes sending
	// through it share it: it takes no letter the Allowance has no room
	// for, whatever MaxLetters and Budget leave.
	Shared Allowance
}

// AccountStats counts the letters whose last attempt in a run one
// account carried, by outcome, and says whether it was paused or
// stopped.
type AccountStats struct {
	Delivered, Failed, Deferred, Unknown int
	// Paused is how many times letters were held back from it: its
	// server refused a session, or answered 421 or 454.
	Paused int
	// Stopped says why it took no more letters before the run's end (its
	// login refused, its quota reached, no session); "" if it did not
	// stop.
	Stopped string
}

// Sent is how many letters the account attempted in the run.
func (a AccountStats) Sent() int { return a.Delivered + a.Failed + a.Deferred + a.Unknown }

// lane is an account as a run uses it: its queue of letters, its
// sessions, and what the dispatcher knows of it. The dispatcher alone
// writes the fields below the line; workers read down and paused.
type lane struct {
	Account
	work chan *job // jobs the dispatcher gave the account; its workers take them
	// ready is closed once the account's first session has been tried,
	// so that credentials its server refuses are sent once, not once per
	// session.
	ready     chan struct{}
	readyOnce sync.Once
	live      atomic.Int32 // open sessions
	down      atomic.Bool  // stopped: its workers take no letter more
	paused    atomic.Int64 // no letter before this time (Unix ns); 0 for none

	// ---- the dispatcher's
	workers int       // workers still with the account
	taken   int       // letters handed to it, for Weight and MaxLetters
	spent   int       // recipients of those letters, for Budget
	until   time.Time // paused until then
	strikes int       // pauses in a row for sessions not opened
	err     *RunError // why it stopped
	closed  bool      // work is closed
	// granted is what the account took of its Shared daily limit, in its
	// unit; sharedFull says the limit had no more room, or could not be
	// asked (sharedErr).
	granted    int
	sharedFull bool
	sharedErr  error
	ctx        context.Context // the run's dispatching, for grants
}

func newLane(a Account) *lane {
	a.Concurrency = max(a.Concurrency, 1)
	a.Weight = max(a.Weight, 1)
	return &lane{Account: a, work: make(chan *job, a.Concurrency), ready: make(chan struct{}), workers: a.Concurrency}
}

// isPaused reports whether the dispatcher holds letters back from the
// account now.
func (ln *lane) isPaused() bool {
	until := ln.paused.Load()
	return until != 0 && time.Now().UnixNano() < until
}

// fits reports whether the account may still take a letter of cost
// recipients in this run.
func (ln *lane) fits(cost int) bool {
	if ln.err != nil {
		return false
	}
	if ln.MaxLetters > 0 && ln.taken >= ln.MaxLetters {
		return false
	}
	if ln.Budget > 0 && ln.spent+cost > ln.Budget {
		return false
	}
	return ln.Shared == nil || ln.grant(cost)
}

// grant reports whether the account's shared daily limit has room for a
// letter of cost recipients, taking more from it (within ctx, the run's)
// as needed. Once it has none, it is not asked again in this run.
func (ln *lane) grant(cost int) bool {
	used, need := ln.taken, 1
	if ln.Shared.Recipients() {
		used, need = ln.spent, cost
	}
	if used+need <= ln.granted {
		return true
	}
	if ln.sharedFull {
		return false
	}
	ctx, cancel := context.WithTimeout(ln.ctx, time.Minute)
	defer cancel()
	g, err := ln.Shared.Take(ctx, max(need, grantSize))
	ln.granted += g
	if err != nil || used+need > ln.granted {
		ln.sharedFull = true
		if ln.ctx.Err() == nil {
			ln.sharedErr = err // not the run's stop
		}
	}
	return used+need <= ln.granted
}

// giveBack gives what the account took of its shared daily limit and did
// not use back, at the end of a run.
func (ln *lane) giveBack() error {
	if ln.sharedErr != nil {
		return &RunError{Kind: ErrJournal, Text: ln.sharedErr.Error(), Err: ln.sharedErr}
	}
	if ln.Shared == nil {
		return nil
	}
	used := ln.taken
	if ln.Shared.Recipients() {
		used = ln.spent
	}
	if ln.granted <= used {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return ln.Shared.Give(ctx, ln.granted-used)
}

// named prefixes what is said of an account with its name, where it
// has one.
func (ln *lane) named(s string) string {
	if ln.Name == "" {
		return s
	}
	return fmt.Sprintf("account %s: %s", ln.Name, s)
}

// choose finds the account to hand a letter of cost recipients to: of
// those with room now, the one furthest behind its weighted share. ok
// is false when no account may take it in this run at all.
func (d *dispatcher) choose(cost int) (best *lane, ok bool) {
	for _, ln := range d.lanes {
		if !ln.fits(cost) {
			continue
		}
		ok = true
		if ln.workers == 0 || !ln.until.IsZero() && time.Now().Before(ln.until) || len(ln.work) == cap(ln.work) {
			continue
		}
		// taken/weight, compared without division.
		if best == nil || (ln.taken+1)*best.Weight < (best.taken+1)*ln.Weight {
			best = ln
		}
	}
	return best, ok
}

// assign hands the queued letters to the accounts with room for them.
// It never blocks: the dispatcher is the only one to send on an
// account's work, and sends only where there is room.
func (d *dispatcher) assign() {
	for len(d.queue) > 0 && d.dispatch.Err() == nil {
		j := d.queue[0]
		cost := d.cost(j.l.Recipients)
		ln, ok := d.choose(cost)
		if !ok {
			// No account may take it in this run (their windows are
			// spent): it is left, and so are the letters after it.
			d.queue = d.queue[1:]
			d.spentAll = true
			d.full.Store(true)
			d.finish(j, abandoned(j))
			continue
		}
		if ln == nil {
			return // none has room now
		}
		d.queue = d.queue[1:]
		ln.taken++
		ln.spent += cost
		ln.work <- j
		d.inflight++
	}
}

// fitsAny reports whether some account may still take a letter of cost
// recipients in this run.
func (d *dispatcher) fitsAny(cost int) bool {
	for _, ln := range d.lanes {
		if ln.fits(cost) {
			return true
		}
	}
	return false
}

// pause holds letters back from an account for a while, growing with
// strikes in a row when strike is set; the letters given to it and not
// yet taken go back to the queue, for the others. After OpenTries
// strikes in a row it stops, with err.
func (d *dispatcher) pause(ln *lane, strike bool, err *RunError) {
	if ln.err != nil {
		return
	}
	now := time.Now()
	if now.Before(ln.until) {
		return // paused already: one refusal of many at once counts once
	}
	if strike {
		ln.strikes++
		if ln.strikes >= max(1, d.p.OpenTries) {
			d.stopLane(ln, err)
			return
		}
	}
	ln.until = now.Add(backoff(d.p.Backoff, max(ln.strikes, 1)))
	ln.paused.Store(ln.until.UnixNano())
	d.countAccount(ln, func(a *AccountStats) { a.Paused++ })
	d.p.Log.Info("account paused", "account", ln.Name, "until", ln.until, "err", err)
	d.reclaim(ln)
}

// resume clears an account's strikes: a session opened, a letter went.
func (d *dispatcher) resume(ln *lane) { ln.strikes = 0 }

// reclaim puts the letters given to an account and not yet taken back
// at the head of the queue, in their order.
func (d *dispatcher) reclaim(ln *lane) {
	var back []*job
	for {
		select {
		case j := <-ln.work:
			if j == nil {
				d.queue = append(back, d.queue...)
				return
			}
			d.inflight--
			ln.taken--
			ln.spent -= d.cost(j.l.Recipients)
			back = append(back, j)
		default:
			d.queue = append(back, d.queue...)
			return
		}
	}
}

// stopLane stops an account for the rest of the run: its letters go to
// the others; with none left, dispatching stops.
func (d *dispatcher) stopLane(ln *lane, err *RunError) {
	if ln.err != nil {
		return
	}
	if err.Account == "" && ln.Name != "" {
		named := *err
		named.Account = ln.Name
		err = &named
	}
	ln.err = err
	ln.down.Store(true)
	d.countAccount(ln, func(a *AccountStats) { a.Stopped = err.Error() })
	d.p.Log.Info("account stopped", "account", ln.Name, "err", err)
	d.reclaim(ln)
	d.workers -= ln.workers
	ln.workers = 0
	d.closeLane(ln)
	if d.workers > 0 || d.dispatch.Err() != nil {
		return
	}
	d.stopDispatch(d.allStopped())
}

func (d *dispatcher) closeLane(ln *lane) {
	if !ln.closed {
		ln.closed = true
		close(ln.work)
	}
}

// allStopped is why the run stops when no account is left: the one
// account's reason, or every account's.
func (d *dispatcher) allStopped() *RunError {
	var stopped []*lane
	for _, ln := range d.lanes {
		if ln.err != nil {
			stopped = append(stopped, ln)
		}
	}
	if len(d.lanes) == 1 && len(stopped) == 1 {
		return stopped[0].err
	}
	out := &RunError{Kind: stopped[0].err.Kind}
	var texts, hints []string
	for _, ln := range stopped {
		if ln.err.Kind != out.Kind {
			out.Kind = ErrUnavailable
		}
		texts = append(texts, ln.err.Error())
		if ln.err.Hint != "" {
			hints = append(hints, ln.named(ln.err.Hint))
		}
	}
	out.Text = "every account stopped: " + strings.Join(texts, "; ")
	out.Hint = strings.Join(hints, "; ")
	return out
}

// countAccount changes the counts of a named account.
func (d *dispatcher) countAccount(ln *lane, f func(*AccountStats)) {
	if ln == nil || ln.Name == "" {
		return
	}
	d.count(func(s *Stats) {
		if s.Accounts == nil {
			s.Accounts = map[string]AccountStats{}
		}
		a := s.Accounts[ln.Name]
		f(&a)
		s.Accounts[ln.Name] = a
	})
}
