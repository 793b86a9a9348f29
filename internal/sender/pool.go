package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

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
}

// Session delivers letters one at a time. It is owned by one worker.
type Session interface {
	// Send makes one attempt at l, whose message is data. It calls
	// beforeEOD at the point of no return (before the final dot) and
	// stops there if that fails.
	Send(ctx context.Context, l *letter.Letter, data []byte, beforeEOD func() error) Result
	// Close ends the session politely (QUIT).
	Close() error
}

// Pool delivers letters through Concurrency sessions of a Transport.
type Pool struct {
	Transport Transport
	Journal   *journal.Journal
	// Build writes a letter out. It runs once per letter, in the worker
	// that first sends it; the bytes are kept for the letter's retries.
	Build       func(*letter.Letter) ([]byte, error)
	Concurrency int
	// Limit is shared by all sessions; nil means no limit.
	Limit *rate.Limiter
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
	// ResendUnknown sends letters whose outcome is unknown again.
	ResendUnknown bool
	Log           *slog.Logger
	// Progress, if set, is called after every change of the counts.
	Progress func(Stats)
}

// ErrInterrupted is the cause when dispatching stopped on request.
var ErrInterrupted = errors.New("interrupted")

// job is a letter on its way through the pool.
type job struct {
	l        *letter.Letter
	data     []byte // built on the first attempt
	attempt  int    // attempts made, counting earlier runs
	deferred bool   // an attempt in this run was temporary
}

// report is what a worker says of a job it took: what the attempt came
// to, or that none was made.
type report struct {
	j     *job
	state journal.State // the outcome recorded; "" when no attempt was made
	retry bool          // the outcome was temporary: another attempt may help
	res   Result
	gone  bool // the worker leaves the pool after this job
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
	dispatch, stopDispatch := context.WithCancelCause(ctx)
	defer stopDispatch(nil)
	g, gctx := errgroup.WithContext(hard)
	// A run-level failure stops dispatching too, so retries waiting for
	// their turn give up at once rather than after their backoff.
	defer context.AfterFunc(gctx, func() { stopDispatch(context.Cause(gctx)) })()

	// The dispatcher takes every letter, to the end of the list, even
	// when the run stops: each is counted.
	letters := make(chan *letter.Letter)
	var produceErr error
	go func() {
		defer close(letters)
		produceErr = each(func(l *letter.Letter) bool {
			letters <- l
			return true
		})
	}()

	w := &crew{p: p, work: make(chan *job), reports: make(chan report), gctx: gctx,
		dispatch: dispatch, stopDispatch: stopDispatch, ready: make(chan struct{})}
	for n := 1; n <= p.Concurrency; n++ {
		g.Go(func() error { return w.run(n) })
	}
	d := &dispatcher{p: p, w: w, letters: letters, dispatch: dispatch, stopDispatch: stopDispatch,
		workers: p.Concurrency, stats: Stats{Skipped: map[journal.State]int{}}}
	d.loop()
	close(w.work)
	err := g.Wait()

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
	return d.stats.copy(), err
}

// dispatcher hands letters to the workers and counts what becomes of each.
type dispatcher struct {
	p            *Pool
	w            *crew
	letters      <-chan *letter.Letter
	dispatch     context.Context
	stopDispatch context.CancelCauseFunc

	queue      []*job    // ready to be sent
	waiting    []waiting // temporary failures, until their retry time
	inflight   int       // jobs a worker has
	workers    int       // workers still in the pool
	dispatched int       // letters let into this run, for MaxLetters
	policy     int       // policy rejections in a row
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
		// Take a letter only when the workers could use it: the list is
		// read as it is sent, not all at once.
		in := letters
		if len(d.queue) >= d.p.Concurrency {
			in = nil
		}
		var out chan<- *job
		var next *job
		if len(d.queue) > 0 {
			out, next = d.w.work, d.queue[0]
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
		case out <- next:
			d.queue = d.queue[1:]
			d.inflight++
		case r := <-d.w.reports:
			d.inflight--
			d.settle(r)
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
	d.count(func(s *Stats) { s.Letters++ })
	e := d.p.Journal.Lookup(l.Key)
	switch {
	case !e.Due(d.p.ResendUnknown):
		d.count(func(s *Stats) { s.Skipped[e.State]++ })
	case d.dispatch.Err() != nil || d.p.MaxLetters > 0 && d.dispatched >= d.p.MaxLetters:
		d.count(func(s *Stats) { s.Untouched++ })
	default:
		d.dispatched++
		d.queue = append(d.queue, &job{l: l, attempt: e.Attempts})
	}
}

// settle hears what became of a job: it is final, waits for a retry, or
// goes back to the queue.
func (d *dispatcher) settle(r report) {
	if r.gone {
		d.workers--
	}
	j := r.j
	switch {
	case r.state == "" && r.gone && d.workers > 0 && d.dispatch.Err() == nil:
		d.queue = append([]*job{j}, d.queue...) // another worker takes it
		return
	case r.state == "":
		if d.workers == 0 && d.dispatch.Err() == nil {
			d.stopDispatch(&RunError{Kind: ErrUnavailable, Text: fmt.Sprintf("%s: no session left to send with", d.p.Transport.Describe())})
		}
		d.finish(j, abandoned(j))
		return
	}
	d.trackPolicy(r.res)
	if r.retry {
		j.deferred = true
		if j.attempt < d.p.MaxAttempts && d.dispatch.Err() == nil {
			d.waiting = append(d.waiting, waiting{j, time.Now().Add(backoff(d.p.Backoff, j.attempt))})
			return
		}
	}
	d.finish(j, r.state)
}

// trackPolicy stops dispatching after PolicyStop policy or quota
// rejections in a row.
func (d *dispatcher) trackPolicy(res Result) {
	switch {
	case res.policy():
		d.policy++
		if d.p.PolicyStop > 0 && d.policy >= d.p.PolicyStop {
			d.stopDispatch(&RunError{Kind: ErrPolicy, Phase: res.Phase, Code: res.Code, Enhanced: res.Enhanced,
				Text: fmt.Sprintf("%s (%d letters in a row refused; the rest were not sent)", res.Text, d.policy)})
		}
	default:
		d.policy = 0
	}
}

// finish counts a job's end in this run: the state of its last attempt,
// or Attempt when none was made or it was cut short.
func (d *dispatcher) finish(j *job, state journal.State) {
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
	if len(d.waiting) == 0 {
		t.Reset(time.Hour)
		return
	}
	first := d.waiting[0].at
	for _, w := range d.waiting[1:] {
		if w.at.Before(first) {
			first = w.at
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

// crew is what the workers share.
type crew struct {
	p            *Pool
	work         chan *job
	reports      chan report
	gctx         context.Context
	dispatch     context.Context
	stopDispatch context.CancelCauseFunc
	live         atomic.Int32 // open sessions
	// ready is closed when the first session has been tried, so that
	// credentials a server rejects are sent once, not once per worker.
	ready     chan struct{}
	readyOnce sync.Once
}

// run is worker n: it reports on every job it takes, exactly once.
func (w *crew) run(n int) error {
	s := &worker{w: w, n: n}
	defer s.close(true)
	if n == 1 {
		defer w.readyOnce.Do(func() { close(w.ready) })
	} else {
		select {
		case <-w.ready:
		case <-w.gctx.Done():
			return nil
		}
	}
	for {
		var j *job
		select {
		case j = <-w.work:
		case <-w.gctx.Done():
			return nil
		}
		if j == nil {
			return nil // closed: everything is done
		}
		r, err := s.handle(j)
		w.reports <- r
		if err != nil || r.gone {
			return err
		}
	}
}

// worker is one worker: its number and its session, opened when first
// needed.
type worker struct {
	w    *crew
	n    int
	s    Session
	sent int
}

// handle makes one attempt at j, if it can.
func (s *worker) handle(j *job) (report, error) {
	w, p := s.w, s.w.p
	r := report{j: j}
	if w.dispatch.Err() != nil {
		return r, nil
	}
	if j.data == nil {
		data, err := p.Build(j.l)
		if err != nil {
			return s.unbuilt(j, err)
		}
		j.data = data
	}
	if p.Limit != nil {
		if err := p.Limit.Wait(w.dispatch); err != nil {
			return r, nil
		}
	}
	if s.s == nil {
		err := s.open()
		if s.n == 1 {
			w.readyOnce.Do(func() { close(w.ready) })
		}
		if err != nil {
			var re *RunError
			if errors.As(err, &re) {
				w.stopDispatch(err) // before anyone else tries
				return r, err
			}
			if w.dispatch.Err() == nil {
				// Others still have sessions: this worker bows out (the
				// server may limit connections) and hands its letter on.
				p.Log.Warn("session could not be opened; going on with fewer", "session", s.n, "err", err)
			}
			r.gone = true
			return r, nil
		}
	}
	r = s.attempt(j)
	s.sent++
	if r.res.Stop != nil {
		s.close(false)
		w.stopDispatch(r.res.Stop)
		return r, r.res.Stop
	}
	if r.res.Reconnect {
		s.close(false)
	} else if s.sent >= p.PerSession {
		s.close(true)
	}
	return r, nil
}

// unbuilt records a letter that could not be written out (an attachment
// changed since the check): deferred, for the next run to check anew.
func (s *worker) unbuilt(j *job, err error) (report, error) {
	p := s.w.p
	rec := journal.Record{Key: j.l.Key, Line: j.l.Line, Rcpt: j.l.Recipients, MessageID: j.l.MessageID, Attempt: j.attempt,
		State: journal.Deferred, Phase: PhaseBuild, Text: err.Error()}
	if cerr := p.Journal.Commit(rec); cerr != nil {
		re := &RunError{Kind: ErrJournal, Text: cerr.Error(), Err: cerr}
		s.w.stopDispatch(re)
		return report{j: j}, re
	}
	p.Log.Warn("letter not written out", "line", j.l.Line, "err", err)
	return report{j: j, state: journal.Deferred, res: Result{Outcome: Temporary, Phase: PhaseBuild, Text: err.Error()}}, nil
}

// open tries to open a session, with backoff between tries. It gives up
// with a *RunError when no worker has a session either.
func (s *worker) open() error {
	w, p := s.w, s.w.p
	var err error
	for try := 0; try < max(1, p.OpenTries); try++ {
		if try > 0 {
			if !sleep(w.dispatch, backoff(p.Backoff, try)) {
				return w.dispatch.Err()
			}
		}
		var sess Session
		sess, err = p.Transport.Open(w.gctx, s.n)
		if err == nil {
			s.s, s.sent = sess, 0
			w.live.Add(1)
			return nil
		}
		var re *RunError
		if errors.As(err, &re) {
			return err
		}
		p.Log.Info("session not opened", "session", s.n, "try", try+1, "err", err)
	}
	if w.live.Load() == 0 {
		return &RunError{Kind: ErrUnavailable, Text: fmt.Sprintf("%s: %v", p.Transport.Describe(), err), Err: err}
	}
	return err
}

func (s *worker) close(polite bool) {
	if s.s == nil {
		return
	}
	if polite {
		s.s.Close()
	} else if c, ok := s.s.(interface{ abort() }); ok {
		c.abort() // after a 421 or a network error: no QUIT, no RSET
	}
	s.s = nil
	s.w.live.Add(-1)
}

// attempt makes one attempt at a letter and records it.
func (s *worker) attempt(j *job) report {
	p := s.w.p
	j.attempt++
	l := j.l
	base := journal.Record{Key: l.Key, Line: l.Line, Rcpt: l.Recipients, MessageID: l.MessageID, Attempt: j.attempt}
	rec := base
	rec.State = journal.Attempt
	if err := p.Journal.Append(rec); err != nil {
		return report{j: j, res: Result{Stop: &RunError{Kind: ErrJournal, Text: err.Error(), Err: err}}}
	}
	start := time.Now()
	res := s.s.Send(s.w.gctx, l, j.data, func() error {
		rec := base
		rec.State = journal.EOD
		return p.Journal.Commit(rec)
	})
	if res.Stop != nil {
		return report{j: j, res: res}
	}
	rec = base
	rec.Phase, rec.Code, rec.Enhanced, rec.Text, rec.Rejected = res.Phase, res.Code, res.Enhanced, res.Text, res.Rejected
	rec.Millis = time.Since(start).Milliseconds()
	switch res.Outcome {
	case Delivered:
		rec.State = journal.Delivered
	case Failed:
		rec.State = journal.Failed
	case Unknown:
		rec.State = journal.Unknown
	default:
		rec.State = journal.Deferred
	}
	if err := p.Journal.Commit(rec); err != nil {
		res.Stop = &RunError{Kind: ErrJournal, Text: err.Error(), Err: err}
		return report{j: j, state: rec.State, res: res}
	}
	p.Log.Debug("letter", "line", l.Line, "rcpt", l.Recipients, "state", rec.State, "code", res.Code, "text", res.Text)
	return report{j: j, state: rec.State, retry: rec.State == journal.Deferred, res: res}
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
