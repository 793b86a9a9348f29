package main

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/report"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// How a send shows itself as it goes (--quiet, --log-format, a terminal).
type watchMode int

const (
	watchLines watchMode = iota // a plain line every few seconds, one per failure
	watchBar                    // a live bar on a terminal, one line per failure
	watchJSON                   // a JSON record per letter and at the end (slog)
	watchQuiet                  // nothing until the end
)

// watchMode is how this send shows itself: JSON for scripts that ask,
// nothing with --quiet, a bar on a terminal, plain lines elsewhere (cron,
// CI, a pipe: no escape codes).
func (f sendFlags) watchMode(stderr io.Writer) watchMode {
	switch {
	case f.logFormat == "json":
		return watchJSON
	case f.quiet:
		return watchQuiet
	case isTerminal(stderr):
		return watchBar
	}
	return watchLines
}

// watcher shows a send as it goes. Its methods are mailing.Watch's,
// called from the pool's goroutines.
type watcher struct {
	mode     watchMode
	w        io.Writer
	csvName  string
	total    int // this run's letters
	interval time.Duration

	mu    sync.Mutex
	start time.Time
	next  time.Time
	bar   *progressbar.ProgressBar
	log   *slog.Logger
}

func newWatcher(mode watchMode, w io.Writer, csvName string, total int) *watcher {
	wt := &watcher{mode: mode, w: w, csvName: csvName, total: total, interval: 5 * time.Second, start: time.Now()}
	wt.next = wt.start.Add(wt.interval)
	switch mode {
	case watchBar:
		wt.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(counts(sender.Stats{})),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	case watchJSON:
		wt.log = slog.New(slog.NewJSONHandler(w, nil))
	}
	return wt
}

func counts(st sender.Stats) string {
	return fmt.Sprintf("delivered %d, failed %d, deferred %d", st.Delivered, st.Failed, st.Deferred)
}

// progress shows the counts: on the bar at once, as a line at most every
// interval.
func (wt *watcher) progress(st sender.Stats) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	switch wt.mode {
	case watchBar:
		wt.bar.Describe(counts(st) + mailing.Rate(st.Sent(), time.Since(wt.start))) // the bar's own rate says "1 letters/s"
		wt.bar.Set(min(st.Sent(), wt.total))
	case watchLines:
		now := time.Now()
		if now.Before(wt.next) {
			return
		}
		wt.next = now.Add(wt.interval)
		fmt.Fprintf(wt.w, "mailmerge: %d of %d letters (%s, unknown %d)%s\n",
			st.Sent(), wt.total, counts(st), st.Unknown, mailing.Pace(st.Sent(), wt.total, now.Sub(wt.start)))
	}
}

// record says what became of a letter: a line per recipient that did not
// get it for good (failed, or of unknown fate), or a JSON record of
// every outcome.
func (wt *watcher) record(r journal.Record) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if wt.mode == watchJSON {
		wt.log.Info("letter", "line", r.Line, "rcpt", r.Rcpt, "state", r.State, "phase", r.Phase,
			"code", r.Code, "enhanced", r.Enhanced, "text", r.Text, "rejected", len(r.Rejected), "test", r.Test != "")
		return
	}
	if wt.mode == watchQuiet {
		return
	}
	var lines []string
	for _, m := range r.Missed() {
		lines = append(lines, wt.line(r.Line, m))
	}
	if len(lines) == 0 {
		return
	}
	if wt.bar != nil {
		wt.bar.Clear()
	}
	for _, l := range lines {
		fmt.Fprintln(wt.w, l)
	}
	if wt.bar != nil {
		wt.bar.RenderBlank()
	}
}

// say writes a line of its own to w (stderr), on a terminal where the
// bar was, drawing the bar again under it.
func (wt *watcher) say(w io.Writer, line string) {
	if wt == nil {
		fmt.Fprintln(w, line)
		return
	}
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if wt.bar != nil && !wt.bar.IsFinished() {
		wt.bar.Clear()
		defer wt.bar.RenderBlank()
	}
	fmt.Fprintln(w, line)
}

func (wt *watcher) line(line int, ro journal.RcptOutcome) string {
	return fmt.Sprintf("%s:%d: %s %s: %s", wt.csvName, line, ro.State, ro.Rcpt, report.Reply(ro))
}

// finish ends the bar, or says the counts as a JSON record.
func (wt *watcher) finish(st sender.Stats) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	switch wt.mode {
	case watchBar:
		wt.bar.Finish()
	case watchJSON:
		wt.log.Info("summary", "delivered", st.Delivered, "failed", st.Failed, "deferred", st.Deferred,
			"unknown", st.Unknown, "skipped", st.Letters-st.Sent(), "letters", st.Letters)
	}
}
