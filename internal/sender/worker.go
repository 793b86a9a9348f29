package sender

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// crew is what the workers share.
type crew struct {
	pool         *Pool
	reports      chan report
	room         chan struct{} // a worker took a letter: its account has room for another
	gctx         context.Context
	hard         context.Context // cancelled by the user: letters in flight are cut off
	dest         string          // the accounts' Destination, for the journal
	dispatch     context.Context
	stopDispatch context.CancelCauseFunc
}

// run is worker id of an account: it reports on every job it takes,
// exactly once. The account's first worker tries a session before the
// others may.
func (c *crew) run(ln *lane, id int, first bool) error {
	w := &worker{crew: c, lane: ln, id: id}
	defer w.close(true)
	heard := make(chan struct{}, 1)
	if first {
		defer ln.readyOnce.Do(func() { close(ln.ready) })
	} else {
		select {
		case <-ln.ready:
		case <-c.gctx.Done():
			return nil
		}
	}
	for {
		j := w.held
		w.held = nil
		if j == nil {
			select {
			case j = <-ln.work:
				c.tookOne()
			case <-c.gctx.Done():
				return nil
			}
		}
		if j == nil {
			return nil // closed: everything is done, or the account stopped
		}
		r, err := w.handle(j)
		r.lane, r.heard = ln, heard
		c.reports <- r
		<-heard
		if err != nil || r.gone {
			if w.held != nil {
				c.reports <- report{j: w.held, lane: ln} // taken early, never tried
			}
			return err
		}
	}
}

// tookOne tells the dispatcher that an account has room for another
// letter.
func (c *crew) tookOne() {
	select {
	case c.room <- struct{}{}:
	default: // told already
	}
}

// worker is one worker: its account, its number, and its session,
// opened when first needed.
type worker struct {
	crew    *crew
	lane    *lane   // the account it sends through
	id      int     // 1, 2, ...: the session's number in traces and logs
	session Session // nil until opened, and once closed
	sent    int     // letters sent on session
	// held is a job taken while the one before was being sent, for the
	// session to send its envelope early (takeNext).
	held *job
}

// handle makes one attempt at j, if it can.
func (w *worker) handle(j *job) (report, error) {
	c, p, ln := w.crew, w.crew.pool, w.lane
	r := report{j: j, lane: ln}
	if w.stopped() || ln.isPaused() {
		return r, nil // not tried: the dispatcher gives it to another account, or leaves it
	}
	if j.buildErr != nil {
		err := j.buildErr
		j.buildErr = nil
		return w.unbuilt(j, err)
	}
	if j.data == nil {
		data, err := p.Build(c.gctx, j.l)
		if err != nil && c.gctx.Err() != nil {
			return r, nil // abandoned: not sent, nothing to record
		}
		if err != nil {
			return w.unbuilt(j, err)
		}
		j.data = data
	}
	if ln.Limit != nil && !j.paid {
		if err := ln.Limit.Wait(c.dispatch); err != nil {
			return r, nil
		}
	}
	j.paid = false
	if w.session != nil && !w.session.Alive() {
		w.close(false) // idle too long, and gone: a new one, before the letter
	}
	if w.session == nil {
		err := w.open()
		var re *RunError
		if errors.As(err, &re) {
			ln.down.Store(true) // before its other workers may try
			r.stop = re
		}
		ln.readyOnce.Do(func() { close(ln.ready) })
		switch {
		case re != nil:
			r.gone = true
			return r, nil
		case err != nil && ln.live.Load() > 0:
			if !w.stopped() {
				// The account's other sessions are open: this worker bows
				// out (the server may limit connections) and hands its
				// letter on.
				p.Log.Warn("session could not be opened; going on with fewer", "session", w.id, "err", err)
			}
			r.gone = true
			return r, nil
		case err != nil:
			// None of the account's sessions is open: the dispatcher
			// pauses it, and gives its letters to the others.
			r.refused = &RunError{Kind: ErrUnavailable, Text: fmt.Sprintf("%s: %v", ln.Transport.Describe(), err), Err: err,
				Hint: ln.Transport.Hint(c.gctx, err)}
			return r, nil
		case w.stopped():
			return r, nil // stopped while the session opened: the letter was not in flight
		}
	}
	tx := Tx{Letter: j.l, Data: j.data, Last: w.sent+1 >= p.PerSession}
	if !tx.Last && w.session.TakesNext() {
		tx.Next = w.takeNext()
	}
	r = w.attempt(j, tx)
	w.sent++
	if r.res.Stop != nil {
		w.close(false)
		c.stopDispatch(r.res.Stop)
		return r, r.res.Stop
	}
	if k := r.res.Known; k.Account == smtp.TooManySessions {
		// The server wants fewer sessions at once from the account: this
		// one ends, and its worker leaves the pool; its letter goes to
		// the others (hear), and with none left the account stops.
		p.Log.Warn("the server allows fewer sessions at once; going on with fewer", "session", w.id,
			"reply", fmt.Sprintf("%d %s %s", r.res.Code, r.res.Enhanced, r.res.Text), "hint", k.Advice())
		w.close(false)
		r.gone = true
		return r, nil
	}
	if r.res.Reconnect {
		w.close(false)
	} else if w.sent >= p.PerSession {
		w.close(true)
	}
	return r, nil
}

// takeNext takes the job to send after the one about to go, if one waits
// and may go at once, and returns its letter for the session: its
// envelope then goes with the end of the one before, a round trip saved.
// The job is held, and handled next either way. It is written out here,
// before the letter before reaches its point of no return: reading its
// attachments must not hold back the final dot of a letter whose eod is
// durable.
func (w *worker) takeNext() *Tx {
	p := w.crew.pool
	if w.stopped() {
		return nil
	}
	select {
	case j := <-w.lane.work:
		w.crew.tookOne()
		if j == nil {
			return nil // closed (never while a job is in flight): the run loop sees it too
		}
		w.held = j
	default:
		return nil
	}
	j := w.held
	if lim := w.lane.Limit; lim != nil {
		if !lim.Allow() {
			return nil // it waits its turn in handle
		}
		j.paid = true
	}
	if j.data == nil {
		data, err := p.Build(w.crew.gctx, j.l)
		if err != nil && w.crew.gctx.Err() != nil {
			return nil // abandoned: handle sees the run ending
		}
		if err != nil {
			j.buildErr = err // handle records why
			return nil
		}
		j.data = data
	}
	return &Tx{Letter: j.l, Data: j.data}
}

// unbuilt records a letter that could not be written out (an attachment
// changed since the check): deferred, for the next run to check anew.
func (w *worker) unbuilt(j *job, err error) (report, error) {
	p := w.crew.pool
	rec := w.record(j)
	rec.State, rec.Phase, rec.Text = journal.Deferred, PhaseBuild, err.Error()
	if cerr := p.Journal.Commit(rec); cerr != nil {
		re := &RunError{Kind: ErrJournal, Text: cerr.Error(), Err: cerr}
		w.crew.stopDispatch(re)
		return report{j: j}, re
	}
	p.Log.Warn("letter not written out", "line", j.l.Line, "err", err)
	return report{j: j, state: journal.Deferred, res: Result{Verdict: Temporary, Phase: PhaseBuild, Text: err.Error()}}, nil
}

// stopped reports that dispatching has stopped, the run is ending, or
// the worker's account has stopped: no new letter may go out.
func (w *worker) stopped() bool {
	return w.crew.dispatch.Err() != nil || w.crew.gctx.Err() != nil || w.lane.down.Load()
}

// open tries to open a session of the worker's account, with backoff
// between tries while the account has other sessions open. A *RunError
// says the account cannot be used (its login is refused).
func (w *worker) open() error {
	c, p, ln := w.crew, w.crew.pool, w.lane
	var err error
	tries := max(1, p.OpenTries)
	for try := 0; try < tries; try++ {
		if try > 0 {
			if ln.live.Load() == 0 {
				return err // the dispatcher pauses the account, and tries later
			}
			if !sleep(c.dispatch, backoff(p.Backoff, try)) {
				return c.dispatch.Err()
			}
		}
		if w.stopped() {
			return c.dispatch.Err()
		}
		var sess Session
		sess, err = ln.Transport.Open(c.gctx, w.id)
		if err == nil {
			w.session, w.sent = sess, 0
			ln.live.Add(1)
			return nil
		}
		var re *RunError
		if errors.As(err, &re) {
			return err
		}
		p.Log.Info("session not opened", "session", w.id, "account", ln.Name, "try", try+1, "err", err)
	}
	return err
}

// close ends the worker's session, if it has one: politely (QUIT), or
// by dropping the connection.
func (w *worker) close(polite bool) {
	if w.session == nil {
		return
	}
	if polite {
		w.session.Close()
	} else {
		w.session.Abort() // after a 421 or a network error: no QUIT, no RSET
	}
	w.session = nil
	w.lane.live.Add(-1)
}

// attempt makes one attempt at a letter, tx, and records it.
func (w *worker) attempt(j *job, tx Tx) report {
	p := w.crew.pool
	j.attempt++
	l := j.l
	base := w.record(j)
	rec := base
	rec.State = journal.Attempt
	if err := p.Journal.Append(rec); err != nil {
		return report{j: j, res: Result{Stop: &RunError{Kind: ErrJournal, Text: err.Error(), Err: err}}}
	}
	start := time.Now()
	res := w.session.Send(w.crew.gctx, tx, func(refused []journal.Rejection) error {
		rec := base
		rec.State, rec.Rejected = journal.EOD, refused
		return p.Journal.Commit(rec)
	})
	if res.Stop != nil || res.Taken {
		return report{j: j, res: res}
	}
	if res.Reconnect && res.Code == 0 && (res.Verdict == Temporary || res.Verdict == Unknown) && w.crew.hard.Err() != nil {
		// The connection closed under it was the abort's, not the
		// network's: the state stands (unknown after the end), the words
		// say who stopped it.
		res.Text = journal.Stopped
	}
	rec = base
	rec.Phase, rec.Code, rec.Enhanced, rec.Text, rec.Rejected = res.Phase, res.Code, res.Enhanced, res.Text, res.Rejected
	rec.Millis = time.Since(start).Milliseconds()
	switch res.Verdict {
	case Delivered:
		rec.State = journal.Delivered
	case Failed:
		rec.State = journal.Failed
	case Unknown:
		rec.State = journal.Unknown
	default:
		rec.State = journal.Deferred
	}
	// The outcome goes to the file now and to the disk with the next
	// letter's eod (or Close): a crash keeps it; a power cut before then
	// leaves the eod, which replays as unknown, never as due.
	if err := p.Journal.Write(rec); errors.Is(err, journal.ErrTaken) {
		// Refused before the end (no eod): another process took the
		// letter over meanwhile, and its record stands.
		res.Taken = true
		return report{j: j, res: res}
	} else if err != nil {
		res.Stop = &RunError{Kind: ErrJournal, Text: err.Error(), Err: err}
		return report{j: j, state: rec.State, res: res}
	}
	p.Log.Debug("letter", "line", l.Line, "rcpt", l.Recipients, "state", rec.State, "code", res.Code, "text", res.Text)
	if p.OnRecord != nil {
		p.OnRecord(rec)
	}
	return report{j: j, state: rec.State, retry: true, res: res}
}

// record starts a journal record of j.
func (w *worker) record(j *job) journal.Record {
	r := journal.Record{Key: j.l.Key, Dest: w.crew.dest, Account: w.lane.Name, Line: j.l.Line, Rcpt: j.l.Recipients, Part: j.part, FP: j.l.Fingerprint, Made: j.letter.Made, MessageID: j.l.MessageID, Attempt: j.attempt}
	if p := w.crew.pool; p.Redirect != nil {
		r.Test = p.Redirect.Addr
	}
	return r
}
