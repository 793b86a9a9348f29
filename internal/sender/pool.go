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
	"github.com/mailmerge/mailmerge/internal/template"
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
	// Send makes one attempt at l. It calls beforeEOD at the point of no
	// return (before the final dot) and stops there if that fails.
	Send(ctx context.Context, l *template.Letter, beforeEOD func() error) Result
	// Close ends the session politely (QUIT).
	Close() error
}

// Pool delivers letters through Concurrency sessions of a Transport.
type Pool struct {
	Transport   Transport
	Journal     *journal.Journal
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
	// Progress, if set, is called after every letter's outcome.
	Progress func(Stats)
}

// Stats counts what a run did.
type Stats struct {
	Delivered, Failed, Deferred, Unknown int
	// Skipped letters were not attempted: final in the journal already
	// (by state), or left untouched when the run stopped early.
	Skipped   map[journal.State]int
	Untouched int
	Letters   int // letters seen, in all
}

// ErrInterrupted is the cause when dispatching stopped on request.
var ErrInterrupted = errors.New("interrupted")

type job struct {
	l       *template.Letter
	attempt int // attempts made before, counting earlier runs
}

// Run delivers the letters that each yields. It stops dispatching when ctx
// is cancelled (letters in flight finish and are recorded) and aborts
// in-flight transactions when hard is cancelled. each must call its
// function for every letter, in order, and stop when it returns false.
func (p *Pool) Run(ctx, hard context.Context, each func(func(*template.Letter) bool) error) (Stats, error) {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	st := &stats{Stats: Stats{Skipped: map[journal.State]int{}}, progress: p.Progress}
	dispatch, stopDispatch := context.WithCancelCause(ctx)
	defer stopDispatch(nil)
	g, gctx := errgroup.WithContext(hard)
	// A run-level failure stops dispatching too, so retries waiting for
	// their turn give up at once rather than after their backoff.
	defer context.AfterFunc(gctx, func() { stopDispatch(context.Cause(gctx)) })()
	jobs := make(chan *job)
	var pending sync.WaitGroup // letters queued and not yet final
	var live atomic.Int32      // open sessions
	var consecutivePolicy atomic.Int32
	r := &runner{p: p, st: st, jobs: jobs, pending: &pending, live: &live, policy: &consecutivePolicy,
		dispatch: dispatch, stopDispatch: stopDispatch, gctx: gctx, ready: make(chan struct{})}

	var produceErr error
	dispatched := 0
	produced := make(chan struct{})
	g.Go(func() error {
		defer close(produced)
		produceErr = each(func(l *template.Letter) bool {
			st.add(func(s *Stats) { s.Letters++ })
			attempts := 0
			if state, n, ok := p.Journal.Status(l.Key); ok {
				attempts = n
				if journal.Settled(state, p.ResendUnknown) {
					st.add(func(s *Stats) { s.Skipped[state]++ })
					return true
				}
			}
			if dispatch.Err() != nil || p.MaxLetters > 0 && dispatched >= p.MaxLetters {
				st.add(func(s *Stats) { s.Untouched++ })
				return true // count the rest as untouched
			}
			dispatched++
			pending.Add(1)
			select {
			case jobs <- &job{l: l, attempt: attempts}:
			case <-dispatch.Done():
				pending.Done()
				st.add(func(s *Stats) { s.Untouched++ })
			case <-gctx.Done():
				pending.Done()
				st.add(func(s *Stats) { s.Untouched++ })
			}
			return true
		})
		return nil
	})
	go func() {
		<-produced
		pending.Wait()
		close(jobs)
	}()
	for n := 1; n <= p.Concurrency; n++ {
		g.Go(func() error { return r.worker(n) })
	}
	err := g.Wait()
	// Jobs still queued when the group ended were never attempted.
	for range jobs {
		st.add(func(s *Stats) { s.Untouched++ })
		pending.Done()
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
	return st.snapshot(), err
}

type runner struct {
	p            *Pool
	st           *stats
	jobs         chan *job
	pending      *sync.WaitGroup
	live         *atomic.Int32
	policy       *atomic.Int32
	dispatch     context.Context
	stopDispatch context.CancelCauseFunc
	gctx         context.Context
	// ready is closed when the first session has been tried, so that
	// credentials a server rejects are sent once, not once per worker.
	ready     chan struct{}
	readyOnce sync.Once
}

func (r *runner) worker(n int) error {
	p := r.p
	var sess Session
	sent := 0
	closeSession := func(polite bool) {
		if sess == nil {
			return
		}
		if polite {
			sess.Close()
		} else if c, ok := sess.(interface{ abort() }); ok {
			c.abort() // after a 421 or a network error: no QUIT, no RSET
		}
		sess = nil
		r.live.Add(-1)
	}
	defer closeSession(true)
	if n == 1 {
		defer r.readyOnce.Do(func() { close(r.ready) })
	} else {
		select {
		case <-r.ready:
		case <-r.gctx.Done():
			return nil
		}
	}
	for {
		var j *job
		select {
		case j = <-r.jobs:
		case <-r.gctx.Done():
			return nil
		}
		if j == nil {
			return nil // closed: everything is done
		}
		if r.dispatch.Err() != nil {
			r.untouched()
			continue
		}
		if p.Limit != nil {
			if err := p.Limit.Wait(r.dispatch); err != nil {
				r.untouched()
				continue
			}
		}
		if sess == nil {
			s, err := r.open(n)
			if n == 1 {
				r.readyOnce.Do(func() { close(r.ready) })
			}
			if err != nil {
				var re *RunError
				if errors.As(err, &re) || r.dispatch.Err() != nil {
					r.untouched()
					return err
				}
				// Others still have sessions: this worker bows out (the
				// server may limit connections) and hands its letter on.
				p.Log.Warn("session could not be opened; going on with fewer", "session", n, "err", err)
				r.later(j, 0)
				return nil
			}
			sess, sent = s, 0
			r.live.Add(1)
		}
		res := r.attempt(sess, j)
		sent++
		if res.Stop != nil {
			closeSession(false)
			return res.Stop
		}
		if res.Reconnect {
			closeSession(false)
		} else if sent >= p.PerSession {
			closeSession(true)
		}
	}
}

// open tries to open a session, with backoff between tries. It gives up
// with a *RunError when no worker has a session either.
func (r *runner) open(n int) (Session, error) {
	p := r.p
	var err error
	for try := 0; try < max(1, p.OpenTries); try++ {
		if try > 0 {
			if !sleep(r.dispatch, backoff(p.Backoff, try)) {
				return nil, r.dispatch.Err()
			}
		}
		var s Session
		s, err = p.Transport.Open(r.gctx, n)
		if err == nil {
			return s, nil
		}
		var re *RunError
		if errors.As(err, &re) {
			return nil, err
		}
		p.Log.Info("session not opened", "session", n, "try", try+1, "err", err)
	}
	if r.live.Load() == 0 {
		return nil, &RunError{Kind: ErrUnavailable, Text: fmt.Sprintf("%s: %v", p.Transport.Describe(), err), Err: err}
	}
	return nil, err
}

// attempt makes one attempt at a letter and records it.
func (r *runner) attempt(s Session, j *job) Result {
	p := r.p
	j.attempt++
	l := j.l
	base := journal.Record{Key: l.Key, Line: l.Line, Rcpt: l.Recipients, MessageID: l.MessageID, Attempt: j.attempt}
	rec := base
	rec.State = journal.Attempt
	if err := p.Journal.Append(rec); err != nil {
		r.done(j, journal.Attempt)
		return Result{Stop: &RunError{Kind: ErrJournal, Text: err.Error(), Err: err}}
	}
	start := time.Now()
	res := s.Send(r.gctx, l, func() error {
		rec := base
		rec.State = journal.EOD
		return p.Journal.Commit(rec)
	})
	if res.Stop != nil {
		r.done(j, journal.Attempt)
		return res
	}
	rec = base
	rec.Phase, rec.Code, rec.Enhanced, rec.Text, rec.Rejected = res.Phase, res.Code, res.Enhanced, res.Text, res.Rejected
	rec.Millis = time.Since(start).Milliseconds()
	retry := false
	switch res.Outcome {
	case Delivered:
		rec.State = journal.Delivered
		r.policy.Store(0)
	case Failed:
		rec.State = journal.Failed
	case Unknown:
		rec.State = journal.Unknown
	default:
		rec.State = journal.Deferred
		retry = j.attempt < p.MaxAttempts
	}
	if err := p.Journal.Commit(rec); err != nil {
		r.done(j, rec.State)
		res.Stop = &RunError{Kind: ErrJournal, Text: err.Error(), Err: err}
		return res
	}
	p.Log.Debug("letter", "line", l.Line, "rcpt", l.Recipients, "state", rec.State, "code", res.Code, "text", res.Text)
	if res.policy() {
		if n := r.policy.Add(1); int(n) >= p.PolicyStop && p.PolicyStop > 0 {
			r.stopDispatch(&RunError{Kind: ErrPolicy, Phase: res.Phase, Code: res.Code, Enhanced: res.Enhanced,
				Text: fmt.Sprintf("%s (%d letters in a row refused; the rest were not sent)", res.Text, n)})
		}
	} else if res.Outcome != Delivered {
		r.policy.Store(0)
	}
	if retry && r.dispatch.Err() == nil {
		r.later(j, backoff(p.Backoff, j.attempt))
		return res
	}
	r.done(j, rec.State)
	return res
}

// later puts a job back after delay, unless the run stops first.
func (r *runner) later(j *job, delay time.Duration) {
	go func() {
		if sleep(r.dispatch, delay) {
			select {
			case r.jobs <- j:
				return
			case <-r.gctx.Done():
			}
		}
		r.done(j, journal.Deferred)
	}()
}

func (r *runner) untouched() {
	r.st.add(func(s *Stats) { s.Untouched++ })
	r.pending.Done()
}

// done counts a letter's final outcome for this run.
func (r *runner) done(j *job, state journal.State) {
	r.st.add(func(s *Stats) {
		switch state {
		case journal.Delivered:
			s.Delivered++
		case journal.Failed:
			s.Failed++
		case journal.Unknown:
			s.Unknown++
		case journal.Attempt:
			s.Untouched++
		default:
			s.Deferred++
		}
	})
	r.pending.Done()
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

type stats struct {
	mu       sync.Mutex
	Stats    Stats
	progress func(Stats)
}

func (s *stats) add(f func(*Stats)) {
	s.mu.Lock()
	f(&s.Stats)
	snap := s.copyLocked()
	s.mu.Unlock()
	if s.progress != nil {
		s.progress(snap)
	}
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyLocked()
}

func (s *stats) copyLocked() Stats {
	c := s.Stats
	c.Skipped = make(map[journal.State]int, len(s.Stats.Skipped))
	for k, v := range s.Stats.Skipped {
		c.Skipped[k] = v
	}
	return c
}
