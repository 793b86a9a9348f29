package campaign

import (
	"context"
	"path/filepath"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// Plan is what a send would do with the letters, found before it starts.
type Plan struct {
	Summary
	ToSend int // letters due (Target.due), held ones aside
	// Held counts the letters due but held until their send time
	// (letter.Letter.SendAfter), which has not come at Target.Now;
	// HeldFirst and HeldLast are the first and the last of those times.
	Held                int
	HeldFirst, HeldLast time.Time
	Known               int // letters the journal has records of for this destination
	// Seen is how many letters the journal has records of for any
	// destination; Recorded how many letters and destinations it has
	// records of in all, this mailing's or not.
	Seen, Recorded int
	// Elsewhere counts, by destination, the letters delivered there but
	// not to this run's destination.
	Elsewhere map[string]int
	// Renamed says the journal has records of letters, none of them this
	// mailing's, but of rows like this mailing's: the campaign was
	// renamed, and every letter will go out again. (With a journal older
	// than fingerprints, records of other letters alone say it.)
	Renamed bool
	// Before is set when this mailing's journal is new: by the other
	// journals in its folder (by file name) and those of its copies in
	// other folders (Options.Copies, by whole path), how many of this
	// mailing's rows each has records of letters for (the mark of a
	// campaign renamed, of a config copied that names none, or of a
	// folder copied). Unsure lists those too old to tell.
	Before map[string]int
	Unsure []string
	// Regrouped lists the lines of grouped letters (recipients.group_by)
	// settled before with other rows than they have now: their new rows
	// are not sent.
	Regrouped []int
}

// Target is where a send goes and what it heeds: what Plan and Settled
// ask the journal about.
type Target struct {
	// Dest is the journal's name for the destination
	// (sender.Transport.Destination).
	Dest string
	// ResendUnknown makes letters whose outcome is unknown due again.
	ResendUnknown bool
	// Test is a test send (send --redirect-to): every letter is due, to
	// every recipient, whatever the journal says, and nothing is settled.
	Test bool
	// Now is the send's clock: a letter whose send time is later is held,
	// not sent (a test send holds none). The zero Now holds none.
	Now time.Time
}

// Holds reports whether a send to t holds l until its send time.
func (t Target) Holds(l *letter.Letter) bool {
	return !t.Test && !t.Now.IsZero() && l.Held(t.Now)
}

// Journal is what a plan asks of a mailing's journal: *journal.Journal,
// or a journal in PostgreSQL. Each method answers as journal.Journal's.
type Journal interface {
	// Due says what of the letter l is still to send to dest.
	Due(l *letter.Letter, dest string, resendUnknown bool) (journal.Entry, []string)
	// Known reports whether the journal has records of the letter with
	// key, and the fingerprint of its row.
	Known(key letter.Key) (fp uint64, ok bool)
	// HasRow reports whether a letter was recorded for the row with the
	// fingerprint fp.
	HasRow(fp uint64) (has, ok bool)
	// Letters returns how many letters and destinations have records.
	Letters() int
	// Settled returns the letters settled at dest, when all are.
	Settled(dest string, made uint64, resendUnknown bool) *journal.Settled
}

// due says what a send to t does with l: the journal's entry for it at
// t.Dest and the recipients still due (journal.Journal.Due), none when
// the letter is settled. A test send sends every letter, afresh. It
// answers as sender.Pool.Lookup does for a pool with the same target.
func (t Target) due(j Journal, l *letter.Letter) (journal.Entry, []string) {
	if t.Test {
		return journal.Entry{}, l.Recipients
	}
	return j.Due(l, t.Dest, t.ResendUnknown)
}

// Plan checks every letter as Letters does, without writing any out, and
// asks the journal j what a send to t would do with each. It also tells
// the attachment store how many letters to send attach each file, so
// that a send reads a file that many letters share once.
func (c *Campaign) Plan(ctx context.Context, j Journal, t Target) (Plan, error) {
	p := Plan{Elsewhere: map[string]int{}, Before: map[string]int{}}
	sameRows, oldJournal := false, false
	others := map[string]journal.Fingerprints{}
	if j.Letters() == 0 {
		others, p.Unsure = c.otherJournals(t.Dest)
	}
	// Copies in other folders, on every send: a folder copied after some
	// letters went out has a journal of its own that is not empty.
	c.copiesSent(t.Dest, others)
	sum, err := c.Letters(ctx, func(l *letter.Letter, _ *recipients.Record) error {
		has, ok := j.HasRow(l.Fingerprint)
		if has || !ok {
			sameRows, oldJournal = sameRows || has, !ok
		}
		for name, rows := range others {
			if !has && rows.Has(l.Fingerprint) { // rows this journal sent are its own
				p.Before[name]++
			}
		}
		e, due := t.due(j, l)
		if e.Known {
			p.Known++
		}
		if c.cfg.Recipients.GroupBy != "" && len(due) == 0 {
			if fp, ok := j.Known(l.Key); ok && fp != 0 && fp != l.Fingerprint {
				p.Regrouped = append(p.Regrouped, l.Line)
			}
		}
		if e.Seen {
			p.Seen++
		}
		if e.Elsewhere != "" {
			p.Elsewhere[e.Elsewhere]++
		}
		if len(due) == 0 {
			return nil
		}
		if t.Holds(l) {
			p.hold(l.SendAfter)
			return nil
		}
		p.ToSend++
		for _, a := range l.Attachments {
			if a.File != nil {
				c.files.Expect(a.File)
			}
		}
		return nil
	})
	p.Summary = sum
	p.Recorded = j.Letters()
	p.Renamed = p.Recorded > 0 && p.Seen == 0 && (sameRows || oldJournal)
	return p, err
}

// hold counts a letter held until at.
func (p *Plan) hold(at time.Time) {
	p.Held++
	if p.HeldFirst.IsZero() || at.Before(p.HeldFirst) {
		p.HeldFirst = at
	}
	if at.After(p.HeldLast) {
		p.HeldLast = at
	}
}

// otherJournals reads the other journals in the folder of this mailing's:
// the rows each has records of letters to dest for, by file name, and the
// names of those too old to tell. (Letters tried out into a Maildir do
// not make a send to a server look like a mailing sent twice.)
func (c *Campaign) otherJournals(dest string) (rows map[string]journal.Fingerprints, unsure []string) {
	rows = map[string]journal.Fingerprints{}
	if c.cfg.Send.JournalInDB() {
		return rows, nil // a database's journal has no folder of others
	}
	for _, name := range journal.Others(c.cfg.Send.Journal) {
		r, ok, err := journal.SentRows(filepath.Join(filepath.Dir(c.cfg.Send.Journal), name), dest)
		switch {
		case err != nil || !ok:
			unsure = append(unsure, name)
		case r.Len() > 0:
			rows[name] = r
		}
	}
	return rows, unsure
}

// copiesSent adds to rows, by whole path, the rows the journals of this
// campaign's copies in other folders (Options.Copies) sent to dest.
func (c *Campaign) copiesSent(dest string, rows map[string]journal.Fingerprints) {
	here, _ := filepath.Abs(filepath.Dir(c.cfg.Send.Journal))
	for _, path := range c.opts.Copies {
		if filepath.Dir(path) == here {
			continue // this folder's other journals: otherJournals, by name
		}
		if r, ok, err := journal.SentRows(path, dest); err == nil && ok && r.Len() > 0 {
			rows[path] = r
		}
	}
}
