package bounce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/mailbox"
)

// Source is the mailbox reports are read from.
type Source interface {
	Messages(ctx context.Context, folder string, since time.Time, want func(header []byte) bool, fn func(mailbox.Message) error) (skipped int, err error)
	Move(ctx context.Context, uids []imap.UID, folder string) error
}

// Options say where to read and what to do with what was read.
type Options struct {
	Folder string // where reports arrive
	// MoveTo, if set, is the folder the reports matched to this mailing's
	// letters are moved to once recorded. Nothing is moved otherwise.
	MoveTo string
}

// Reading is what one reading of the mailbox found.
type Reading struct {
	Since    time.Time // the day the mailing's first letter went out
	Messages int       // messages read: those whose header says they may be reports
	// Recorded are the recipients newly recorded as bounced or delayed.
	Recorded []Recorded
	// Known counts the reports recorded by an earlier reading.
	Known int
	// Unmatched are reports about no letter of this mailing, or about
	// recipients it cannot place.
	Unmatched []*Report
	// Moved counts the reports moved to Options.MoveTo.
	Moved int
	// Skipped counts the messages too old to be read: a folder holds at
	// most so many since the first letter that one reading looks at.
	Skipped int
}

// Recorded is a recipient a report was recorded for.
type Recorded struct {
	Match
	// SentLine is the letter's line in the recipient list when it was
	// sent. Line is the same, which a caller that reads the list as it
	// is now may set to the line there, or 0 when it no longer has it.
	Line, SentLine int
	Code           int // the SMTP reply code the diagnostic starts with, or 0
	Report         *Report
}

// sentLetter is a letter of the journal as reports are matched to it.
type sentLetter struct {
	Letter
	sent  time.Time      // when the server first had it (its first eod)
	last  journal.Record // its last record of a send that reached the server
	state map[string]journal.State
	ids   []string // the Message-IDs it was sent with
}

// slack is how far a report's date may be before the letter's send:
// servers' clocks differ. A report older than that is about another
// letter that had the same identity (a mailing moved aside and sent
// again).
const slack = 12 * time.Hour

// Journal is where Read records what reports say: *journal.Journal, or a
// journal in PostgreSQL.
type Journal interface {
	// Commit records r, and returns once it is durable.
	Commit(journal.Record) error
}

// Read reads the reports in the mailbox since the mailing's first letter,
// matches each to a letter of the journal j (whose file is path), and
// records each recipient it reports on as bounced or delayed. A report
// recorded before is not recorded again for the same recipient, a delay
// never overrides a bounce, and a letter is found by the ENVID it was
// sent with or its Message-ID in the returned headers. A report about a
// letter of unknown fate (the connection was lost after its end) shows
// the server took it: its other recipients are recorded as delivered.
func Read(ctx context.Context, j Journal, path string, src Source, opts Options) (*Reading, error) {
	return ReadFrom(ctx, j, journal.File(path), src, opts)
}

// ReadFrom is Read with the journal's records read by recs: a journal in
// a file or in PostgreSQL.
func ReadFrom(ctx context.Context, j Journal, recs journal.Records, src Source, opts Options) (*Reading, error) {
	sent := NewSent()
	letters := map[string]*sentLetter{}
	recorded := map[string]bool{} // report and lower-case recipient
	r := &Reading{}
	err := recs(func(rec journal.Record) error {
		if rec.Copy != "" {
			return nil
		}
		if r.Since.IsZero() || rec.Time.Before(r.Since) {
			r.Since = rec.Time
		}
		for _, rcpt := range rec.Rcpt {
			if rec.Report != "" {
				recorded[rec.Report+"\x00"+strings.ToLower(rcpt)] = true
			}
		}
		if rec.Test != "" {
			return nil // its reports are about the tester, not the recipients
		}
		key := rec.Key.String()
		l := letters[key]
		switch rec.State {
		case journal.EOD, journal.Delivered, journal.Unknown:
			// The server has, or may have, the letter: reports may come.
			if l == nil {
				l = &sentLetter{state: map[string]journal.State{}, sent: rec.Time}
				letters[key] = l
			}
			// A resend to some recipients (a part) keeps the others.
			l.Key, l.MessageID = key, rec.MessageID
			if !slices.Contains(l.ids, rec.MessageID) {
				l.ids = append(l.ids, rec.MessageID) // each it was sent with
			}
			for _, rcpt := range rec.Rcpt {
				if !slices.ContainsFunc(l.Rcpt, func(s string) bool { return strings.EqualFold(s, rcpt) }) {
					l.Rcpt = append(l.Rcpt, rcpt)
				}
			}
			if rec.Report == "" {
				l.last = rec
			}
			fallthrough
		case journal.Bounced, journal.Delayed:
			if l != nil && rec.Report != "" {
				for _, rcpt := range rec.Rcpt {
					if l.state[strings.ToLower(rcpt)] != journal.Bounced {
						l.state[strings.ToLower(rcpt)] = rec.State
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range letters {
		sent.Add(&l.Letter)
		for _, id := range l.ids { // a resend may have gone with another (a tag since)
			sent.AddID(&l.Letter, id)
		}
	}
	if r.Since.IsZero() {
		return r, nil // nothing sent: nothing can have come back
	}
	var move []imap.UID
	// IMAP searches by day, in the server's time zone: a day early.
	r.Skipped, err = src.Messages(ctx, opts.Folder, r.Since.AddDate(0, 0, -1), Candidate, func(m mailbox.Message) error {
		r.Messages++
		rep, err := Parse(strings.NewReader(string(m.Data)))
		if err != nil {
			return nil // not a report (a reply, a notice), or one too broken to read
		}
		if rep.MessageID == "" {
			sum := sha256.Sum256(m.Data)
			rep.MessageID = "sha256:" + hex.EncodeToString(sum[:16])
		}
		matched, unmatched := sent.Match(rep)
		if len(matched) > 0 && !rep.Date.IsZero() && rep.Date.Before(letters[matched[0].Letter.Key].sent.Add(-slack)) {
			matched, unmatched = nil, nil // older than the letter: about another
		}
		if len(matched) == 0 || len(unmatched) > 0 {
			r.Unmatched = append(r.Unmatched, rep)
		}
		known, added := 0, 0
		for _, mt := range matched {
			lower := strings.ToLower(mt.Rcpt)
			if recorded[rep.MessageID+"\x00"+lower] {
				known++
				continue
			}
			if mt.Action != Failed && mt.Action != Delayed {
				continue // delivered, relayed, expanded: nothing to record
			}
			l := letters[mt.Letter.Key]
			if l.state[lower] == journal.Bounced {
				continue // already bounced: a later delay or a second bounce adds nothing
			}
			if err := takenByServer(j, l, mt.Rcpt); err != nil {
				return err
			}
			rec := l.last
			rec.Time = time.Now().UTC()
			rec.Rcpt, rec.Part, rec.Rejected = []string{mt.Rcpt}, true, nil
			rec.State = journal.Bounced
			if mt.Action == Delayed {
				rec.State = journal.Delayed
			}
			rec.Phase, rec.Enhanced, rec.Text, rec.Millis = "", mt.Status, mt.Diagnostic, 0
			rec.Code = replyCode(mt.Diagnostic)
			rec.Report = rep.MessageID
			if err := j.Commit(rec); err != nil {
				return err
			}
			l.state[lower] = rec.State
			recorded[rep.MessageID+"\x00"+lower] = true
			added++
			r.Recorded = append(r.Recorded, Recorded{Match: mt, Line: rec.Line, SentLine: rec.Line, Code: rec.Code, Report: rep})
		}
		if known > 0 && added == 0 {
			r.Known++
		}
		if len(matched) > 0 && len(unmatched) == 0 {
			move = append(move, m.UID) // about this mailing, and all placed
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	if opts.MoveTo != "" && len(move) > 0 {
		if err := src.Move(ctx, move, opts.MoveTo); err != nil {
			return r, fmt.Errorf("the reports were recorded, but not moved: %w", err)
		}
		r.Moved = len(move)
	}
	return r, nil
}

// takenByServer records, once, that the server took a letter whose fate
// was unknown: a report about it came back, so its recipients other than
// rcpt (and those refused at RCPT) got it as far as the server.
func takenByServer(j Journal, l *sentLetter, rcpt string) error {
	if l.last.State != journal.EOD && l.last.State != journal.Unknown {
		return nil
	}
	var others []string
	for _, x := range l.Rcpt {
		refused := slices.ContainsFunc(l.last.Rejected, func(rej journal.Rejection) bool { return strings.EqualFold(rej.Rcpt, x) })
		if !strings.EqualFold(x, rcpt) && !refused && l.state[strings.ToLower(x)] == "" {
			others = append(others, x)
		}
	}
	rec := l.last
	rec.Time, rec.Part, rec.Rejected = time.Now().UTC(), true, nil
	rec.State, rec.Phase, rec.Code, rec.Enhanced, rec.Millis = journal.Delivered, "", 0, "", 0
	rec.Text = "taken by the server: a delivery report about this letter came back"
	l.last.State = journal.Delivered
	if len(others) == 0 {
		return nil
	}
	rec.Rcpt = others
	return j.Commit(rec)
}

var replyCodeRE = regexp.MustCompile(`^([245]\d\d)[ -]`)

// replyCode is the SMTP reply code a diagnostic starts with, or 0.
func replyCode(diagnostic string) int {
	if m := replyCodeRE.FindStringSubmatch(diagnostic); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
