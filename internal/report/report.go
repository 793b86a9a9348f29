// Package report tells what became of every letter of a mailing, and of
// each of its recipients. It joins what the journal recorded at one
// destination to the letters the recipients file makes now, matched by
// identity: a letter the journal has no record of is not sent yet, and a
// record no row makes any more belongs to a row that was changed or
// removed. Only the envelope of each row is filled in, so a report needs
// neither the letters' bodies nor their attachments.
package report

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/smtp"

	"github.com/mailmerge/mailmerge/internal/remote"
)

// NotSent is the state of a letter the journal has no outcome for.
const NotSent journal.State = "not sent"

// Suppressed is the state of a letter none of whose row's recipients may
// be mailed (recipients.suppress), and of each such recipient.
const Suppressed journal.State = "suppressed"

func suppressedOutcomes(l *letter.Letter) []journal.RcptOutcome {
	var out []journal.RcptOutcome
	for _, r := range l.Recipients {
		if l.IsSuppressed(r) {
			out = append(out, journal.RcptOutcome{Rcpt: r, State: Suppressed, Text: "in the suppress list: never mailed"})
		}
	}
	return out
}

// Letter is a letter a report lists: one whose own recipients (those the
// row gave) did not all get it, or that was tried and not sent; or a row
// that makes no letter (journal.Invalid).
type Letter struct {
	Line int // where its row is in the list as it is now
	// SentLine is where its row was when the journal last recorded it
	// (its last send, or the send that left it out as invalid); 0 when
	// the journal has no record of it.
	SentLine int
	State    journal.State // journal.Fold of its recipients', NotSent, or journal.Invalid
	// Missed are its own recipients that did not get it, with what
	// became of each; a letter tried and not sent lists all of them.
	Missed []journal.RcptOutcome
	// Problem says why an invalid row makes no letter: as a send that
	// left it out (--skip-invalid) recorded it, or as it is now.
	Problem string
	Row     []string // the CSV row's fields
}

// Copy is a recipient the template itself names (an instructor's Cc or
// Bcc) that did not get some letters: said once, not once per row.
type Copy struct {
	journal.RcptOutcome // the last of them
	Letters             int
}

// Report is what became of a mailing's letters.
type Report struct {
	Letters int                   // letters the recipients file makes
	Counts  map[journal.State]int // by state, NotSent among them
	Listed  []Letter              // in CSV order
	Copies  []Copy                // by address
	// Gone counts letters the journal has records of that no row makes
	// any more: rows changed or removed since.
	Gone   int
	Header []string // the CSV header, for writing rows out
	// Accounts counts, by the account of several that made each
	// letter's last attempt, its letters by state; nil for one account.
	Accounts map[string]map[journal.State]int

	// What Rows needs: the mailing, its history, and what became of each
	// letter, by the line it is known by (letter.Letter.Line).
	cfg     *config.Config
	history *journal.History
	letters map[int]rowLetter
}

// Make joins what the journal says of the mailing of cfg (h, read for
// the report's destination) to the letters its recipients file makes now.
// opts are the campaign's (where problems are told); Make adds what it
// needs. The summary and the error are those of campaign.Envelopes.
func Make(ctx context.Context, cfg *config.Config, opts campaign.Options, h *journal.History) (*Report, campaign.Summary, error) {
	r := &Report{Counts: map[journal.State]int{}, cfg: cfg, history: h, letters: map[int]rowLetter{}}
	seen := map[letter.Key]bool{}
	copies := map[string]*Copy{}
	invalid := func(line int, fields []string, fp uint64, problem string) Letter {
		k := letter.InvalidKey(cfg.Campaign, fp)
		seen[k] = true
		sentLine := 0
		if o := h.Outcomes[k]; o != nil {
			problem, sentLine = remote.Text(o.Last.Text), o.Last.Line
		}
		r.letters[line] = rowLetter{state: journal.Invalid, note: unlocated(filepath.Base(cfg.Recipients.File), problem)}
		return Letter{Line: line, SentLine: sentLine, State: journal.Invalid, Problem: problem, Row: append([]string(nil), fields...)}
	}
	opts.Known = func(k letter.Key) (uint64, bool) { fp, ok := h.Letters[k]; return fp, ok }
	opts.OnUnselected = func(l *letter.Letter) { seen[l.Key] = true } // not gone: not chosen
	opts.OnSuppressed = func(l *letter.Letter) {
		seen[l.Key] = true
		r.Letters++
		if o := h.Outcomes[l.Key]; o != nil {
			// Sent before its recipients were suppressed: what happened
			// then stands.
			var states []journal.State
			for _, rcpt := range l.Recipients {
				ro, _ := outcomeOf(o, rcpt)
				states = append(states, ro.State)
			}
			if st := journal.Fold(states, nil); st != "" && st != journal.Attempt {
				r.Counts[st]++
				r.letters[l.Line] = rowLetter{key: l.Key, state: st, rcpts: l.Recipients, note: suppressedNote(l)}
				return
			}
		}
		r.letters[l.Line] = rowLetter{key: l.Key, state: Suppressed, note: suppressedNote(l)}
		r.Counts[Suppressed]++
		r.Listed = append(r.Listed, Letter{Line: l.Line, State: Suppressed, Missed: suppressedOutcomes(l)})
	}
	opts.OnInvalid = func(rec *recipients.Record, fp uint64, err error) {
		r.Letters++
		r.Header = rec.Header()
		r.Counts[journal.Invalid]++
		r.Listed = append(r.Listed, invalid(rec.Line, rec.Fields, fp, err.Error()))
	}
	sum, err := campaign.New(cfg, opts).Envelopes(ctx, func(l *letter.Letter, row *recipients.Record) error {
		r.Letters++
		r.Header = row.Header()
		seen[l.Key] = true
		o := h.Outcomes[l.Key]
		if _, recorded := h.Outcomes[letter.InvalidKey(cfg.Campaign, l.Fingerprint)]; o == nil && recorded {
			// Left out by a send as invalid (say, its attachment was
			// missing), and not sent since.
			r.Counts[journal.Invalid]++
			r.Listed = append(r.Listed, invalid(l.Line, row.Fields, l.Fingerprint, ""))
			return nil
		}
		var states []journal.State
		var own []bool
		listed := Letter{Line: l.Line, Row: append([]string(nil), row.Fields...)}
		if o != nil {
			listed.SentLine = o.Sent.Line
		}
		deciding := deciders(l)
		for i, rcpt := range l.Recipients {
			if l.IsSuppressed(rcpt) {
				continue // never mailed
			}
			isOwn := l.Sources[i] != ""
			ro, known := outcomeOf(o, rcpt)
			states, own = append(states, ro.State), append(own, isOwn)
			if !known || ro.State == journal.Delivered || ro.State == journal.Delayed {
				continue // got it, or on its way
			}
			if isOwn {
				listed.Missed = append(listed.Missed, ro)
			} else if cp := copies[strings.ToLower(rcpt)]; cp != nil {
				cp.RcptOutcome = ro
				cp.Letters++
			} else {
				copies[strings.ToLower(rcpt)] = &Copy{ro, 1}
			}
		}
		listed.State = journal.Fold(states, own)
		if o == nil || listed.State == journal.Attempt {
			listed.State = NotSent
		}
		r.letters[l.Line] = rowLetter{key: l.Key, state: listed.State, rcpts: deciding, note: suppressedNote(l)}
		r.Counts[listed.State]++
		if o != nil && o.Account != "" {
			if r.Accounts == nil {
				r.Accounts = map[string]map[journal.State]int{}
			}
			if r.Accounts[o.Account] == nil {
				r.Accounts[o.Account] = map[journal.State]int{}
			}
			r.Accounts[o.Account][listed.State]++
		}
		if len(listed.Missed) > 0 {
			r.Listed = append(r.Listed, listed)
		}
		return nil
	})
	for k, o := range h.Outcomes {
		if !seen[k] && o.Last.State != journal.Invalid { // an invalid row was never a letter
			r.Gone++
		}
	}
	for _, cp := range copies {
		r.Copies = append(r.Copies, *cp)
	}
	slices.SortFunc(r.Copies, func(a, b Copy) int { return cmp.Compare(a.Rcpt, b.Rcpt) })
	slices.SortStableFunc(r.Listed, func(a, b Letter) int { return cmp.Compare(a.Line, b.Line) })
	return r, sum, err
}

// outcomeOf is what became of one recipient of a letter, if the journal
// says.
func outcomeOf(o *journal.Outcome, rcpt string) (journal.RcptOutcome, bool) {
	if o == nil {
		return journal.RcptOutcome{Rcpt: rcpt}, false
	}
	ro, ok := o.Rcpts[strings.ToLower(rcpt)]
	if !ok {
		return journal.RcptOutcome{Rcpt: rcpt}, false
	}
	ro.Rcpt = rcpt
	return ro, true
}

// Reply describes what a recipient's outcome says, for people: what it
// means first (smtp.Explain; for a letter of unknown fate, that it may
// have arrived), the server's words after.
func Reply(ro journal.RcptOutcome) string {
	if ro.Text == journal.Stopped {
		return stoppedWords(ro)
	}
	if ro.State == journal.Unknown {
		const lost = "the connection was lost after the letter was sent; it may have been delivered"
		if detail := reply(ro); detail != "" {
			return lost + " (" + detail + ")"
		}
		return lost
	}
	detail := reply(ro)
	words := smtp.Explain(ro.Phase, ro.Code, ro.Enhanced, ro.Text)
	if ro.State == journal.Bounced || ro.State == journal.Delayed {
		// Said by a report that came back after the server took the letter.
		back := "the recipient's mail server sent it back"
		if ro.State == journal.Delayed {
			back = "not delivered yet, still being tried"
		}
		if words != "" {
			back += ": " + words
		}
		words = back
	}
	if words != "" {
		return words + " (" + detail + ")"
	}
	return detail
}

// stoppedWords says what became of a letter the user cut off in flight
// (a second Ctrl-C): no server said anything.
func stoppedWords(ro journal.RcptOutcome) string {
	words := "stopped by you (a second Ctrl-C) before the letter was sent in full; it was not delivered, and send sends it again"
	if ro.State == journal.Unknown {
		words = "stopped by you (a second Ctrl-C) after the letter was sent, before the server said it had it; it may have been delivered"
	}
	if ro.Phase != "" {
		words += " (at " + remote.Text(ro.Phase) + ")"
	}
	return words
}

func reply(ro journal.RcptOutcome) string {
	// A journal written before replies were cleaned may hold a server's
	// text as it came: data, never terminal commands.
	ro.Text, ro.Enhanced, ro.Phase = remote.Text(ro.Text), remote.Text(ro.Enhanced), remote.Text(ro.Phase)
	var b strings.Builder
	if ro.Phase != "" {
		fmt.Fprintf(&b, "at %s: ", ro.Phase)
	}
	if ro.Code != 0 && strings.HasPrefix(ro.Text, strconv.Itoa(ro.Code)) {
		ro.Code, ro.Enhanced = 0, "" // the text says them (a bounce's diagnostic)
	}
	if ro.Code != 0 {
		fmt.Fprintf(&b, "%d ", ro.Code)
	}
	if ro.Enhanced != "" && !strings.HasPrefix(ro.Text, ro.Enhanced) {
		fmt.Fprintf(&b, "%s ", ro.Enhanced)
	}
	b.WriteString(ro.Text)
	return strings.TrimSpace(b.String())
}
