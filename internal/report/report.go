// Package report tells what became of every letter of a mailing. It joins
// the last journal record of each letter to the letters the recipients
// file makes now, matched by identity: a letter the journal has no record
// of is not sent yet, and a record no row makes any more belongs to a row
// that was changed or removed. Only the envelope of each row is filled
// in, so a report needs neither the letters' bodies nor their attachments.
package report

import (
	"context"
	"fmt"
	"strings"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// NotSent is the state of a letter the journal has no outcome for.
const NotSent journal.State = "not sent"

// Letter is one letter that a report lists: not delivered, or delivered
// with some of its recipients refused.
type Letter struct {
	Line       int
	Recipients []string
	State      journal.State // the journal's (see journal.Record.Final), or NotSent
	Record     journal.Record
	Row        []string // the CSV row's fields
}

// Report is what became of a mailing's letters.
type Report struct {
	Letters int                   // letters the recipients file makes
	Counts  map[journal.State]int // by state, NotSent among them
	// Listed are the letters not delivered, and the delivered ones with
	// refused recipients, in CSV order.
	Listed []Letter
	// Gone counts letters the journal has records of that no row makes
	// any more: rows changed or removed since.
	Gone   int
	Header []string // the CSV header, for writing rows out
}

// Undelivered reports whether the letter was not delivered (it is listed
// for refused recipients otherwise).
func (l Letter) Undelivered() bool { return l.State != journal.Delivered }

// Make joins last, the journal's last record of each letter, to the
// letters of c. The summary and the error are those of c.Envelopes.
func Make(ctx context.Context, c *campaign.Campaign, last map[letter.Key]journal.Record) (*Report, campaign.Summary, error) {
	r := &Report{Counts: map[journal.State]int{}}
	seen := map[letter.Key]bool{}
	sum, err := c.Envelopes(ctx, func(l *letter.Letter, row *recipients.Record) error {
		r.Letters++
		r.Header = row.Header()
		seen[l.Key] = true
		rec, ok := last[l.Key]
		state := rec.Final()
		if !ok || state == journal.Attempt {
			state = NotSent
		}
		r.Counts[state]++
		if ok && (state != journal.Delivered || len(rec.Rejected) > 0) {
			r.Listed = append(r.Listed, Letter{Line: l.Line, Recipients: l.Recipients, State: state, Record: rec, Row: append([]string(nil), row.Fields...)})
		}
		return nil
	})
	for k := range last {
		if !seen[k] {
			r.Gone++
		}
	}
	return r, sum, err
}

// Reply describes a record's server reply for people.
func Reply(r journal.Record) string {
	var b strings.Builder
	if r.Phase != "" {
		fmt.Fprintf(&b, "at %s: ", r.Phase)
	}
	if r.Code != 0 {
		fmt.Fprintf(&b, "%d ", r.Code)
	}
	if r.Enhanced != "" && !strings.HasPrefix(r.Text, r.Enhanced) {
		fmt.Fprintf(&b, "%s ", r.Enhanced)
	}
	b.WriteString(r.Text)
	if r.Final() == journal.Unknown && r.Text == "" {
		b.WriteString("the connection was lost after the letter was sent; it may have been delivered")
	}
	return strings.TrimSpace(b.String())
}

// Refusal describes a recipient refused in an otherwise delivered letter.
func Refusal(rej journal.Rejection) string {
	return Reply(journal.Record{Phase: "RCPT", Code: rej.Code, Enhanced: rej.Enhanced, Text: rej.Text})
}
