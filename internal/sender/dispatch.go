package sender

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// dispatcher hands letters to the workers and counts what becomes of each.
type dispatcher struct {
	p            *Pool
	crew         *crew
	lanes        []*lane // the accounts
	letters      <-chan *letter.Letter
	dispatch     context.Context
	stopDispatch context.CancelCauseFunc

	queue      []*job       // ready to be sent
	waiting    []waiting    // temporary failures, until their retry time
	inflight   int          // jobs a worker has
	workers    int          // workers still in the pool
	dispatched int          // letters let into this run, for MaxLetters
	spent      int          // recipients of the letters let in, for Budget
	spentAll   bool         // a letter did not fit the Budget: let no more in
	policy     int          // policy rejections in a row
	full       *atomic.Bool // set once a letter was left for want of room (Pool.claiming)
	stats      Stats
}

type waiting struct {
	j  *job
	at time.Time
}

func (d *dispatcher) loop() {
	letters := d.letters
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		stopping := d.dispatch.Err() != nil
		if stopping {
			d.abandonAll()
		}
		if letters == nil && len(d.queue) == 0 && len(d.waiting) == 0 && d.inflight == 0 {
			return
		}
		d.assign()
		// Take a letter only when the workers could use it: the list is
		// read as it is sent, not all at once.
		in := letters
		if len(d.queue) >= d.p.Concurrency {
			in = nil
		}
		var stop <-chan struct{}
		if !stopping {
			stop = d.dispatch.Done()
		}
		d.resetTimer(retry)
		select {
		case l, ok := <-in:
			if !ok {
				letters = nil
				continue
			}
			d.admit(l)
		case <-d.crew.room:
			// A worker took a letter: the next round hands out more.
		case r := <-d.crew.reports:
			d.inflight--
			d.hear(r)
			if r.heard != nil {
				r.heard <- struct{}{}
			}
		case <-retry.C:
			d.wake()
		case <-stop:
			// The loop's next round ends what waits, then takes the rest
			// of the letters and waits for the workers.
		}
	}
}

// admit decides what this run does with a letter: skip it (the journal
// settles it), leave it (the run is stopping or at its limit), or send it.
func (d *dispatcher) admit(l *letter.Letter) {
	e, due := d.p.Lookup(l)
	_, unclaimed := d.p.unclaimed.LoadAndDelete(l.Key)
	switch {
	case unclaimed && len(due) > 0:
		// Let in without its lease (Pool.claiming): counted, never sent.
		d.count(func(s *Stats) { s.Letters++; s.Untouched++ })
	case len(due) == 0:
		st := state(l, e)
		_, elsewhere := d.p.elsewhere.LoadAndDelete(l.Key)
		d.count(func(s *Stats) {
			s.Letters++
			s.Skipped[st]++
			if elsewhere && st == journal.Delivered {
				s.Elsewhere++
			}
		})
	case d.dispatch.Err() != nil:
		d.count(func(s *Stats) { s.Letters++; s.Untouched++ })
	case d.atLimit(d.cost(due)) || !d.fitsAny(d.cost(due)):
		d.full.Store(true)
		d.count(func(s *Stats) { s.Letters++; s.Untouched++ })
	default:
		d.dispatched++
		d.spent += d.cost(due)
		j := &job{letter: l, attempt: e.Attempts, before: e.Attempts}
		j.to(due)
		if d.p.Redirect != nil {
			j.l = l.Redirect(*d.p.Redirect, d.p.TestSubject)
		}
		d.queue = append(d.queue, j)
		d.count(func(s *Stats) { s.Letters++ })
	}
}

// atLimit reports whether a letter of cost recipients would take the
// run past MaxLetters or its Budget. Once one does not fit the Budget,
// none after it is let in: letters go in order.
func (d *dispatcher) atLimit(cost int) bool {
	if d.p.MaxLetters > 0 && d.dispatched >= d.p.MaxLetters {
		return true
	}
	if d.p.Budget > 0 && d.spent+cost > d.p.Budget {
		d.spentAll = true
	}
	return d.spentAll
}

// cost is what a letter to the recipients due takes of the Budget.
func (d *dispatcher) cost(due []string) int {
	if d.p.Redirect != nil {
		return 1
	}
	return len(due)
}

// hear takes what became of a job: it is final, waits for a retry, or
// goes back to the queue.
func (d *dispatcher) hear(r report) {
	j, ln := r.j, r.lane
	if r.res.Taken {
		// Another process took the letter over: it is its to send. What
		// this run did with it before stands.
		d.p.Log.Info("letter taken over by another process", "line", j.l.Line)
		d.finish(j, abandoned(j))
		return
	}
	if r.state != "" {
		j.lane = ln
	} else if ln != nil {
		ln.taken-- // not tried: it takes nothing of the account's limits
		ln.spent -= d.cost(j.l.Recipients)
	}
	switch {
	case r.stop != nil:
		d.stopLane(ln, r.stop)
	case r.refused != nil:
		d.pause(ln, true, r.refused)
	case r.gone && ln.err == nil:
		ln.workers--
		d.workers--
		if ln.workers == 0 {
			d.stopLane(ln, d.noSession(ln, r.res))
		}
	}
	if r.state != "" && r.res.Phase != PhaseBuild { // the server's doing
		d.heed(ln, r.res)
	}
	switch {
	case r.state == "" && d.workers > 0 && d.dispatch.Err() == nil:
		// Never tried: a worker that left the pool had it (its session
		// could not be opened, or the server wants fewer sessions).
		d.queue = append([]*job{j}, d.queue...) // another worker takes it
		return
	case r.state == "":
		d.finish(j, abandoned(j))
		return
	}
	// Recipients with a temporary outcome are tried again, alone: the
	// others' outcomes stand.
	if again := r.temporary(); len(again) > 0 {
		j.deferred = true
		if r.retry && j.attempt-j.before < d.p.MaxAttempts && d.dispatch.Err() == nil {
			if d.p.Redirect == nil {
				j.to(again)
			}
			d.waiting = append(d.waiting, waiting{j, time.Now().Add(backoff(d.p.Backoff, j.attempt-j.before))})
			return
		}
	}
	d.finish(j, d.final(j, r))
}

// final is what a job's letter comes to once its attempts in this run
// are over, all its recipients counted: the journal's, merged from this
// run's records and earlier ones. The template's own recipients refused
// for good are counted by address. A test send is recorded but indexed
// nowhere: its one recipient's outcome is in the report.
func (d *dispatcher) final(j *job, r report) journal.State {
	if d.p.Redirect != nil {
		if len(r.res.Rejected) > 0 {
			return r.res.Rejected[0].Final()
		}
		return r.state
	}
	e := d.p.Journal.Lookup(j.letter.Key, d.crew.dest).For(j.letter.Recipients)
	for i, rcpt := range j.letter.Recipients {
		if s, _ := e.StateOf(rcpt); i < len(j.letter.Sources) && j.letter.Sources[i] == "" && s == journal.Failed {
			if d.stats.CopiesRefused == nil {
				d.stats.CopiesRefused = map[string]int{}
			}
			d.stats.CopiesRefused[rcpt]++
		}
	}
	return state(j.letter, e)
}

// noSession is why dispatching stops when no worker is left: the
// sessions could not be opened, or the server wants fewer sessions at
// once than the account has (res, the last reply, says so).
func (d *dispatcher) noSession(ln *lane, res Result) *RunError {
	if res.Known.Account == smtp.TooManySessions {
		re := accountError(ErrQuota, res)
		re.Hint += "; then run send again in a few minutes, when the account's other sessions have ended"
		return re
	}
	return &RunError{Kind: ErrUnavailable, Text: fmt.Sprintf("%s: no session left to send with", ln.Transport.Describe())}
}

// heed takes what a reply says beyond the letter: a reply about the
// account (a quota reached, a login refused) stops the account at once,
// the letters in flight finishing, and the run with it when it is the
// last; a server that will not take letters for now (421, 454) pauses
// the account; PolicyStop policy rejections in a row stop the run.
func (d *dispatcher) heed(ln *lane, res Result) {
	switch k := res.Known.Account; {
	case k.Quota():
		d.stopLane(ln, accountError(ErrQuota, res)) // the first reply says why; later ones change nothing
	case k == smtp.LoginRefused:
		d.stopLane(ln, accountError(ErrAuth, res))
	case res.Code == 421 || res.Code == 454:
		d.pause(ln, false, accountError(ErrUnavailable, res))
	case res.policy():
		d.policy++
		if d.p.PolicyStop > 0 && d.policy >= d.p.PolicyStop {
			d.stopDispatch(&RunError{Kind: ErrPolicy, Phase: res.Phase, Code: res.Code, Enhanced: res.Enhanced,
				Text: fmt.Sprintf("%s (%d letters in a row refused; the rest were not sent)", res.Text, d.policy)})
		}
	default:
		d.policy = 0
		if res.Verdict == Delivered {
			d.resume(ln)
		}
	}
}

// finish counts a job's end in this run: the state of its last attempt,
// or Attempt when none was made or it was cut short.
func (d *dispatcher) finish(j *job, state journal.State) {
	if d.p.Claims != nil && d.p.Redirect == nil {
		// Done with in this run: left deferred, it is another
		// process's to try (its lease runs out).
		d.p.Claims.Release([]letter.Key{j.letter.Key})
	}
	if state != journal.Attempt {
		d.countAccount(j.lane, func(a *AccountStats) {
			switch state {
			case journal.Delivered:
				a.Delivered++
			case journal.Failed:
				a.Failed++
			case journal.Unknown:
				a.Unknown++
			default:
				a.Deferred++
			}
		})
	}
	d.count(func(s *Stats) {
		switch state {
		case journal.Delivered:
			s.Delivered++
		case journal.Failed:
			s.Failed++
		case journal.Unknown:
			s.Unknown++
		case journal.Deferred:
			s.Deferred++
		default:
			s.Untouched++
		}
	})
}

// abandonAll ends the jobs that wait, once dispatching has stopped: a
// letter deferred in this run stays deferred, one never tried untouched.
func (d *dispatcher) abandonAll() {
	for _, j := range d.queue {
		d.finish(j, abandoned(j))
	}
	for _, w := range d.waiting {
		d.finish(w.j, abandoned(w.j))
	}
	d.queue, d.waiting = nil, nil
	// Jobs handed over but not yet taken: no worker may take them now (a
	// worker stopped by an abort takes nothing more).
	for _, ln := range d.lanes {
		d.reclaim(ln)
	}
	for _, j := range d.queue {
		d.finish(j, abandoned(j))
	}
	d.queue = nil
}

func abandoned(j *job) journal.State {
	if j.deferred {
		return journal.Deferred
	}
	return journal.Attempt
}

// wake moves the retries that are due to the queue.
func (d *dispatcher) wake() {
	now := time.Now()
	keep := d.waiting[:0]
	for _, w := range d.waiting {
		if now.Before(w.at) {
			keep = append(keep, w)
		} else {
			d.queue = append(d.queue, w.j)
		}
	}
	d.waiting = keep
}

// resetTimer sets t to fire when the first waiting retry is due.
func (d *dispatcher) resetTimer(t *time.Timer) {
	first := time.Now().Add(time.Hour)
	for _, w := range d.waiting {
		if w.at.Before(first) {
			first = w.at
		}
	}
	// And when a paused account may take letters again, while some wait.
	for _, ln := range d.lanes {
		if len(d.queue) > 0 && ln.err == nil && ln.until.After(time.Now()) && ln.until.Before(first) {
			first = ln.until
		}
	}
	t.Reset(time.Until(first))
}

func (d *dispatcher) count(f func(*Stats)) {
	f(&d.stats)
	if d.p.Progress != nil {
		d.p.Progress(d.stats.copy())
	}
}
