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
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// NotSent is the state of a letter the journal has no outcome for.
const NotSent journal.State = "not sent"

// Letter is a letter a report lists: one whose own recipients (those the
// row gave) did not all get it, or that was tried and not sent.
type Letter struct {
	Line  int
	State journal.State // journal.Fold of its recipients', or NotSent
	// Missed are its own recipients that did not get it, with what
	// became of each; a letter tried and not sent lists all of them.
	Missed []journal.RcptOutcome
	Row    []string // the CSV row's fields
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
}

// Make joins outcomes, what became of each letter at the report's
// destination (journal.Outcomes), to the letters of c. The summary and
// the error are those of c.Envelopes.
func Make(ctx context.Context, c *campaign.Campaign, outcomes map[letter.Key]*journal.Outcome) (*Report, campaign.Summary, error) {
	r := &Report{Counts: map[journal.State]int{}}
	seen := map[letter.Key]bool{}
	copies := map[string]*Copy{}
	sum, err := c.Envelopes(ctx, func(l *letter.Letter, row *recipients.Record) error {
		r.Letters++
		r.Header = row.Header()
		seen[l.Key] = true
		o := outcomes[l.Key]
		states := make([]journal.State, len(l.Recipients))
		own := make([]bool, len(l.Recipients))
		listed := Letter{Line: l.Line, Row: append([]string(nil), row.Fields...)}
		for i, rcpt := range l.Recipients {
			own[i] = l.Sources[i] != ""
			ro, known := outcomeOf(o, rcpt)
			states[i] = ro.State
			if !known || ro.State == journal.Delivered {
				continue
			}
			if own[i] {
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
		r.Counts[listed.State]++
		if len(listed.Missed) > 0 {
			r.Listed = append(r.Listed, listed)
		}
		return nil
	})
	for k := range outcomes {
		if !seen[k] {
			r.Gone++
		}
	}
	for _, cp := range copies {
		r.Copies = append(r.Copies, *cp)
	}
	slices.SortFunc(r.Copies, func(a, b Copy) int { return cmp.Compare(a.Rcpt, b.Rcpt) })
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

// Reply describes what a recipient's outcome says, for people.
func Reply(ro journal.RcptOutcome) string {
	var b strings.Builder
	if ro.Phase != "" {
		fmt.Fprintf(&b, "at %s: ", ro.Phase)
	}
	if ro.Code != 0 {
		fmt.Fprintf(&b, "%d ", ro.Code)
	}
	if ro.Enhanced != "" && !strings.HasPrefix(ro.Text, ro.Enhanced) {
		fmt.Fprintf(&b, "%s ", ro.Enhanced)
	}
	b.WriteString(ro.Text)
	if ro.State == journal.Unknown && ro.Text == "" {
		b.WriteString("the connection was lost after the letter was sent; it may have been delivered")
	}
	return strings.TrimSpace(b.String())
}
