package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// Row is a row of the recipient list with what became of its letter
// (with recipients.group_by, its group's letter), as report --out writes
// it: the list as the user keeps it, with columns added.
type Row struct {
	Line   int      // where it starts in the list as it is now
	Fields []string // as read
	State  journal.State
	// Time is when its letter was last tried (the reply to that attempt,
	// or its end): zero when it never was.
	Time time.Time
	// Account is the account that carried that attempt: "" while one
	// mailing has one account (account).
	Account string
	// Reply is what the server said to that attempt (Reply), for each
	// recipient the row gave; Bounce is what a delivery report said
	// after the server took it (mailmerge bounces).
	Reply, Bounce string
	// Note is mailmerge's own word on a row no server saw: why an
	// invalid row makes no letter, which recipients are never mailed.
	Note string
}

// rowLetter is what a report keeps of each letter for Rows.
type rowLetter struct {
	key   letter.Key
	state journal.State
	rcpts []string // the recipients that decide its state
	note  string
}

// deciders are the recipients of l that decide its state (journal.Fold):
// those its row gave, or, when the row gave none, the template's own; never
// those no envelope has (recipients.suppress).
func deciders(l *letter.Letter) []string {
	var own, all []string
	for i, r := range l.Recipients {
		if l.IsSuppressed(r) {
			continue
		}
		all = append(all, r)
		if i < len(l.Sources) && l.Sources[i] != "" {
			own = append(own, r)
		}
	}
	if own != nil {
		return own
	}
	return all
}

// suppressedNote names the recipients of l that are never mailed.
func suppressedNote(l *letter.Letter) string {
	if len(l.Suppressed) == 0 {
		return ""
	}
	var names []string
	for _, r := range l.Recipients {
		if l.IsSuppressed(r) {
			names = append(names, r)
		}
	}
	return strings.Join(names, ", ") + " in the suppress list: never mailed"
}

// account is the account of several that carried an attempt; "" for
// the one account of smtp:.
func account(r journal.Record) string { return r.Account }

// Rows calls fn with every row of the recipient list the report was made
// of, in file order, each with what became of its letter: the rows the
// report's selection chose (every row without one), invalid rows and
// rows never sent among them. Rows are matched to the journal by their
// letter's identity, as Make matched them, so a list edited since the
// send (rows added, moved or removed) still gets each row's own state.
func (rep *Report) Rows(ctx context.Context, fn func(Row) error) error {
	if rep.cfg == nil {
		return errors.New("report: Rows needs a report made by Make")
	}
	return campaign.New(rep.cfg, campaign.Options{}).EachRow(ctx, func(rec *recipients.Record, line int) error {
		rl, ok := rep.letters[line]
		if !ok {
			return nil // not chosen (--rows, --where)
		}
		row := Row{Line: rec.Line, Fields: rec.Fields, State: rl.state, Note: rl.note}
		if o := rep.history.Outcomes[rl.key]; o != nil && rl.state != journal.Invalid {
			row.Time, row.Account = o.Sent.Time, account(o.Sent)
			row.Reply, row.Bounce = replies(o, rl.rcpts)
		}
		return fn(row)
	})
}

// replies says what the server said to the last attempt of the letter
// whose outcome is o, and what delivery reports said after, for each of
// rcpts: once when all say the same, else each after its address.
func replies(o *journal.Outcome, rcpts []string) (atSend, after string) {
	var sent, back []said
	for _, rcpt := range rcpts {
		ro, ok := outcomeOf(o, rcpt)
		if !ok {
			continue
		}
		switch ro.State {
		case journal.Bounced, journal.Delayed:
			back = append(back, said{rcpt, bounceReason(ro)})
			ro, ok = sentOutcome(o.Sent, rcpt)
			if !ok {
				continue
			}
		}
		if ro.State == journal.Delivered {
			sent = append(sent, said{rcpt, reply(ro)}) // said nothing to explain
		} else {
			sent = append(sent, said{rcpt, Reply(ro)})
		}
	}
	return join(sent), join(back)
}

// said is what was said of one recipient.
type said struct{ rcpt, text string }

// join says each recipient's: the text once when all say the same.
func join(s []said) string {
	if len(s) == 0 {
		return ""
	}
	if !slices.ContainsFunc(s, func(x said) bool { return x.text != s[0].text }) {
		return s[0].text
	}
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = x.rcpt + ": " + x.text
	}
	return strings.Join(parts, "; ")
}

// sentOutcome is what the send recorded in r said of rcpt, whom a report
// says more of since.
func sentOutcome(r journal.Record, rcpt string) (journal.RcptOutcome, bool) {
	for _, rej := range r.Rejected {
		if strings.EqualFold(rej.Rcpt, rcpt) {
			return rej.Outcome(), true
		}
	}
	if !slices.ContainsFunc(r.Rcpt, func(x string) bool { return strings.EqualFold(x, rcpt) }) {
		return journal.RcptOutcome{}, false
	}
	return journal.RcptOutcome{Rcpt: rcpt, State: r.Final(), Phase: r.Phase, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}, true
}

// bounceReason says what a delivery report said of a recipient: what it
// means first, the report's own words after.
func bounceReason(ro journal.RcptOutcome) string {
	detail := reply(ro)
	words := ""
	if ro.State == journal.Delayed {
		words = "not delivered yet, still being tried"
	}
	if w := smtp.Explain(ro.Phase, ro.Code, ro.Enhanced, ro.Text); w != "" {
		words = strings.TrimPrefix(words+": "+w, ": ")
	}
	switch {
	case words == "":
		return detail
	case detail == "":
		return words
	}
	return fmt.Sprintf("%s (%s)", words, detail)
}

// unlocated is a problem without the place it names on a line of the
// CSV (csvName:line: or csvName:line:column:), said on its row.
func unlocated(csvName, problem string) string {
	rest, ok := strings.CutPrefix(problem, csvName+":")
	if !ok {
		return problem
	}
	for range 2 { // the line, then the column
		n, after, ok := strings.Cut(rest, ":")
		if _, err := strconv.Atoi(n); !ok || err != nil {
			break
		}
		rest = after
	}
	return strings.TrimSpace(rest)
}
