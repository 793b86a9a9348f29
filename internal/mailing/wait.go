package mailing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/schedule"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// A send that waits (send --wait) tries letters deferred by the server
// (a temporary failure) again in later rounds, after these delays, one
// round each; then it leaves them for a later send: a server that says
// "later" for two hours will not change its mind for the next day.
var retryDelays = []time.Duration{5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}

// maxNap is the longest a send sleeps before it reads the clock again:
// a timer does not count the time a computer is suspended, the clock
// does.
const maxNap = time.Minute

// left is what a round of a send leaves for a later one.
type left struct {
	held                int       // letters held until their send time
	heldFirst, heldLast time.Time // the first and the last of those times
	// due counts the letters due that the round did not send: the
	// window held them back (window), or send --at has not come (start).
	due      int
	window   bool
	start    time.Time // send --at, not come yet: the round sent nothing
	deferred int       // letters deferred in the round
	stopped  bool      // a failure or an interrupt stopped the round's run
	err      error     // the round's error, had it not waited
}

// waits says whether the send may sleep and send in several rounds.
func (s *send) waits() bool { return s.opts.Wait || s.opts.At != "" }

// schedule checks the options of a send that waits, and reads when it
// starts (send --at).
func (s *send) schedule() error {
	o := s.opts
	usage := func(format string, args ...any) error {
		return &Error{Kind: Usage, Err: fmt.Errorf(format, args...), Hint: "mailmerge help send says how"}
	}
	switch {
	case !s.waits():
		return nil
	case o.Redirect != nil:
		return usage("--wait and --at send the mailing over time; a test (--redirect-to) goes at once")
	case o.Wait && o.Limit > 0:
		return usage("--limit stops the send after %s, --wait keeps it going until every letter is sent: give one of them", Plural(o.Limit, "letter"))
	case o.At == "":
		return nil
	}
	t, err := schedule.ParseStart(o.At, s.clock())
	if err != nil {
		return usage("--at: %v", err)
	}
	s.start = t
	return nil
}

// startPassed checks send --at against the clock once the rows are
// checked: a time more than a minute past is a mistake, unless this
// mailing has begun (the same command, run again after an interruption
// or another day, goes on at once).
func (s *send) startPassed(plan campaign.Plan) error {
	now := s.now
	if s.start.IsZero() || !s.start.Before(now.Add(-time.Minute)) {
		return nil
	}
	when := s.start.In(now.Location()).Format("2006-01-02 15:04")
	if plan.Known == 0 {
		return &Error{Kind: Usage, Err: fmt.Errorf("--at %s is in the past (it is %s now); nothing was sent", when, now.Format("2006-01-02 15:04")),
			Hint: "give a time to come, or leave --at out to send now"}
	}
	fmt.Fprintf(s.notes, "note: --at %s has passed, and this mailing has begun: it goes on now\n", when)
	s.start = time.Time{}
	return nil
}

// rounds sends in rounds until nothing is left that waiting would send,
// sleeping between them, a line each time to say until when and why.
// Each round is a send of its own, planned afresh from the journal, so
// that the same command run again (after Ctrl-C, a crash, a reboot)
// goes on where this one was. The result is the last round's, with the
// letters the rounds before it sent counted as sent.
func (s *send) rounds(ctx context.Context) (*SendResult, error) {
	var (
		last    *SendResult
		earlier sender.Stats // what the rounds before sent
		copies  int          // and how many copies they saved
		tries   int          // rounds for deferred letters so far
	)
	for {
		res, err := s.round(ctx)
		if res != nil {
			last = merged(res, earlier, copies)
			earlier = sentBy(earlier, res.Stats)
			copies += res.Copies
		}
		if err == nil && res == nil {
			err = s.left.err
		}
		wake, line, ok := s.next(&tries)
		if !ok {
			return last, err
		}
		fmt.Fprintln(s.notes, line)
		if err := s.sleepUntil(ctx, wake); err != nil {
			return last, &Error{Kind: Interrupted, Err: errors.New("interrupted while waiting; nothing is lost: run the same command again to go on")}
		}
		s.later, s.start = true, time.Time{}
	}
}

// next finds when the send goes on after a round, and the line that
// says so; ok is false when it ends: nothing is left that waiting
// sends, or the round failed, or (send --at without --wait) it began.
// tries counts the rounds for deferred letters alone.
func (s *send) next(tries *int) (wake time.Time, line string, ok bool) {
	l, now, cfg := s.left, s.clock(), s.cfg
	w, err := s.waitWindow(now, l.due+l.deferred)
	if err != nil {
		return time.Time{}, "", false
	}
	fine := w != nil && w.quota.Per < time.Hour
	doneBy := func(from time.Time) string {
		end := finish(w, from, l.due+l.deferred, cfg.Send.Rate)
		if l.held > 0 && l.heldLast.After(end) {
			end = l.heldLast
		}
		return "; done by " + sayBy(end, now, fine)
	}
	if !l.start.IsZero() {
		what := Plural(l.due, "letter")
		if l.due == 0 { // all wait for their send times
			what = "starting"
		}
		return l.start, fmt.Sprintf("waiting for --at: %s %s%s", what, sayAt(l.start, now, l.start.Second() != 0), doneBy(l.start)), true
	}
	if !s.opts.Wait || l.stopped {
		return time.Time{}, "", false
	}
	type reason struct {
		at    time.Time
		line  string
		retry bool
	}
	var rs []reason
	if l.held > 0 {
		rs = append(rs, reason{at: l.heldFirst, line: fmt.Sprintf("waiting for the send time of %s (recipients.send_after): next %s",
			Plural(l.held, "letter"), sayAt(l.heldFirst, now, false))})
	}
	var opens time.Time // when the window lets the next letters through
	if w != nil && l.window {
		if at, ok := w.room(min(l.due+l.deferred, w.quota.N)); ok {
			opens = at
			rs = append(rs, reason{at: at, line: fmt.Sprintf("waiting for %s: next %s %s", w,
				Plural(min(l.due+l.deferred, w.roomAt(at)), "letter"), sayAt(at, now, fine))})
		}
	}
	if l.deferred > 0 && *tries < len(retryDelays) {
		at := now.Add(retryDelays[*tries])
		if opens.After(at) {
			at = opens // they wait for the window too
		}
		rs = append(rs, reason{at: at, retry: true, line: fmt.Sprintf("waiting to try %s again (try %d of %d): %s",
			Plural(l.deferred, "deferred letter"), *tries+1, len(retryDelays), sayAt(at, now, fine))})
	}
	if len(rs) == 0 {
		return time.Time{}, "", false
	}
	first := rs[0]
	for _, r := range rs[1:] {
		if r.at.Before(first.at) {
			first = r
		}
	}
	if first.retry {
		*tries++
	}
	return first.at, first.line + doneBy(first.at), true
}

// sleepUntil sleeps until the clock reads wake, or ctx ends.
func (s *send) sleepUntil(ctx context.Context, wake time.Time) error {
	for {
		d := wake.Sub(s.clock())
		if d <= 0 {
			return ctx.Err()
		}
		if err := s.sleep(ctx, min(d, maxNap)); err != nil {
			return err
		}
	}
}

// sleep waits d with SendOptions.Sleep, or a timer.
func (s *send) sleep(ctx context.Context, d time.Duration) error {
	if s.opts.Sleep != nil {
		return s.opts.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish estimates when due letters are sent from a moment on, at the
// rate, as a send that waits sends them: what the window w (nil for
// none) has room for at once, then, when it is full, a batch each time
// it has room for one again. Counting recipients, every letter is
// taken to have one.
func finish(w *window, from time.Time, due int, r config.Rate) time.Time {
	if w == nil {
		return from.Add(r.Time(due))
	}
	sim := *w
	sim.counted = slices.Clone(w.counted)
	t := from
	for {
		sim.advance(t)
		if n := min(due, sim.left); n > 0 {
			for i := range n {
				sim.counted = append(sim.counted, journal.Delivery{Time: t.Add(r.Time(i + 1)), Rcpts: 1})
			}
			sim.left -= n
			due -= n
			t = t.Add(r.Time(n))
		}
		at, ok := sim.room(min(due, sim.quota.N))
		if due <= 0 || !ok {
			return t
		}
		t = at
	}
}

// confirmation is what the user is asked to confirm: what this run
// sends, and, for a send that waits, what it will have sent by when.
func (s *send) confirmation(plan campaign.Plan, run int, limits runLimits, win *window) Confirmation {
	cfg, now := s.cfg, s.now
	due := plan.ToSend
	if s.opts.Redirect != nil {
		due = run // a test: no days to plan
	}
	then, from := "", now
	if s.start.After(now) {
		from = s.start
	}
	if s.opts.Wait {
		end := finish(win, from, plan.ToSend, cfg.Send.Rate)
		if plan.Held > 0 && plan.HeldLast.After(end) {
			end = plan.HeldLast
		}
		then = "send --wait goes on by itself: done by " + sayBy(end, now, win != nil && win.quota.Per < time.Hour)
	}
	var parts []string
	if s.start.After(now) {
		parts = append(parts, "starting "+sayAt(s.start, now, s.start.Second() != 0)+" (--at)")
	}
	e := estimate(run, due, limits.left, cfg.Send.DailyLimit, cfg.Send.CountsRecipients(), cfg.Send.Rate, then)
	if len(cfg.Accounts) > 0 {
		e = estimateAccounts(run, due, s.sendingTime(run), s.accounts)
	}
	if e != "" {
		parts = append(parts, e)
	} else if s.opts.Wait && plan.ToSend+plan.Held > run {
		parts = append(parts, then)
	}
	if plan.Held > 0 {
		what := "run send again then, or send --wait"
		if s.opts.Wait {
			what = "send --wait sends them then"
		}
		parts = append(parts, heldWords(plan, now)+": "+what)
	}
	c := Confirmation{Plan: plan, Run: run, DailyLeft: limits.left, Via: describe(s.accounts), Estimate: strings.Join(parts, "; "),
		Duration: s.sendingTime(run)}
	if s.opts.Wait {
		c.Run = plan.ToSend // all of them, window after window
	}
	return c
}

// heldRemaining says, in err's place or after it, that letters wait for
// their send time, when err leaves letters to send again later (Rerun);
// a worse err stands, and they are noted.
func (s *send) heldRemaining(err error, plan campaign.Plan) error {
	if plan.Held == 0 {
		return err
	}
	words := heldWords(plan, s.now)
	var e *Error
	switch {
	case !errors.As(err, &e) || e.Kind != Rerun:
		if !s.opts.Wait {
			fmt.Fprintf(s.notes, "note: %s\n", words)
		}
		return err
	case e.Quiet: // only "run send again later": these are why
		return &Error{Kind: Rerun, Err: errors.New(words), Hint: "run send again then, or send --wait, which waits for them"}
	}
	return &Error{Kind: Rerun, Err: fmt.Errorf("%w\n%s", e.Err, words), Hint: e.Hint}
}

// heldWords says how many letters of the plan wait for their send time,
// and until when, seen at now.
func heldWords(plan campaign.Plan, now time.Time) string {
	if plan.Held == 1 {
		return "1 letter waits for its send time (recipients.send_after), " + sayAt(plan.HeldFirst, now, false)
	}
	return fmt.Sprintf("%d letters wait for their send time (recipients.send_after), the first %s", plan.Held, sayAt(plan.HeldFirst, now, false))
}

// merged is a round's result with what the rounds before it sent
// (earlier, and copies saved) counted as sent by the send, not as
// skipped: the journal settled them before this round, not before the
// send.
func merged(res *SendResult, earlier sender.Stats, copies int) *SendResult {
	m := *res
	st := res.Stats
	st.Skipped = maps.Clone(st.Skipped)
	move := func(n int, to *int, state journal.State) {
		k := min(n, st.Skipped[state])
		*to += k
		if st.Skipped[state] -= k; st.Skipped[state] == 0 {
			delete(st.Skipped, state)
		}
	}
	move(earlier.Delivered, &st.Delivered, journal.Delivered)
	move(earlier.Failed, &st.Failed, journal.Failed)
	move(earlier.Unknown, &st.Unknown, journal.Unknown)
	if len(earlier.CopiesRefused) > 0 {
		st.CopiesRefused = maps.Clone(st.CopiesRefused)
		if st.CopiesRefused == nil {
			st.CopiesRefused = map[string]int{}
		}
		for addr, n := range earlier.CopiesRefused {
			st.CopiesRefused[addr] += n
		}
	}
	m.Stats = st
	m.Copies += copies
	m.Settled = res.Settled && earlier.Sent() == 0
	return &m
}

// sentBy adds to what the rounds before sent what a round sent: its
// letters settled for good (delivered, failed, of unknown fate; a
// deferred one is tried again), and the copies of the template's own
// recipients refused.
func sentBy(earlier, round sender.Stats) sender.Stats {
	earlier.Delivered += round.Delivered
	earlier.Failed += round.Failed
	earlier.Unknown += round.Unknown
	if len(round.CopiesRefused) > 0 {
		earlier.CopiesRefused = maps.Clone(earlier.CopiesRefused)
		if earlier.CopiesRefused == nil {
			earlier.CopiesRefused = map[string]int{}
		}
		for addr, n := range round.CopiesRefused {
			earlier.CopiesRefused[addr] += n
		}
	}
	return earlier
}

// waitWindow is the daily window a waiting send waits for: smtp:'s, or,
// of the accounts of accounts: with a limit, the one with room for the
// next due letters first; nil when none has a limit.
func (s *send) waitWindow(now time.Time, due int) (*window, error) {
	if len(s.cfg.Accounts) == 0 {
		return openWindow(s.cfg, s.transport.Destination(), "", now)
	}
	var first *window
	var firstAt time.Time
	for _, ob := range s.accounts {
		w, err := openWindow(ob.cfg, ob.transport.Destination(), ob.name, now)
		if err != nil || w == nil {
			return nil, err // an account without a limit: no window holds the letters back
		}
		if at, ok := w.room(min(max(due, 1), w.quota.N)); ok && (first == nil || at.Before(firstAt)) {
			first, firstAt = w, at
		}
	}
	return first, nil
}
