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
	Messages(ctx context.Context, folder string, since time.Time, fn func(mailbox.Message) error) error
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
	Messages int       // messages looked at
	// Recorded are the recipients newly recorded as bounced or delayed.
	Recorded []Recorded
	// Known counts the reports recorded by an earlier reading.
	Known int
	// Unmatched are reports about no letter of this mailing, or about
	// recipients it cannot place.
	Unmatched []*Report
	// Moved counts the reports moved to Options.MoveTo.
	Moved int
}

// Recorded is a recipient a report was recorded for.
type Recorded struct {
	Match
	Line   int // the letter's CSV line
	Code   int // the SMTP reply code the diagnostic starts with, or 0
	Report *Report
}

// sentLetter is a letter of the journal as reports are matched to it.
type sentLetter struct {
	Letter
	last  journal.Record // its last record of a send that reached the server
	state map[string]journal.State
}

// Read reads the reports in the mailbox since the mailing's first letter,
// matches each to a letter of the journal j (whose file is path), and
// records each recipient it reports on as bounced or delayed. A report
// recorded before is not recorded again, a delay never overrides a
// bounce, and a letter is found by the ENVID it was sent with or its
// Message-ID in the returned headers.
func Read(ctx context.Context, j *journal.Journal, path string, src Source, opts Options) (*Reading, error) {
	sent := NewSent()
	letters := map[string]*sentLetter{}
	reports := map[string]bool{}
	r := &Reading{}
	err := journal.Read(path, func(rec journal.Record) error {
		if r.Since.IsZero() || rec.Time.Before(r.Since) {
			r.Since = rec.Time
		}
		if rec.Report != "" {
			reports[rec.Report] = true
		}
		if rec.Test != "" {
			return nil // a test send's Message-ID is the letter's: its reports are not the recipients'
		}
		key := rec.Key.String()
		l := letters[key]
		switch rec.State {
		case journal.EOD, journal.Delivered, journal.Unknown:
			// The server has, or may have, the letter: reports may come.
			if l == nil {
				l = &sentLetter{state: map[string]journal.State{}}
				letters[key] = l
			}
			// A resend to some recipients (a part) keeps the others.
			l.Key, l.MessageID = key, rec.MessageID
			for _, rcpt := range rec.Rcpt {
				if !slices.ContainsFunc(l.Rcpt, func(s string) bool { return strings.EqualFold(s, rcpt) }) {
					l.Rcpt = append(l.Rcpt, rcpt)
				}
			}
			l.last = rec
		case journal.Bounced, journal.Delayed:
			if l != nil {
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
	}
	if r.Since.IsZero() {
		return r, nil // nothing sent: nothing can have come back
	}
	var move []imap.UID
	err = src.Messages(ctx, opts.Folder, r.Since, func(m mailbox.Message) error {
		r.Messages++
		rep, err := Parse(strings.NewReader(string(m.Data)))
		if err != nil {
			return nil // not a report (a reply, a notice), or one too broken to read
		}
		if rep.MessageID == "" {
			sum := sha256.Sum256(m.Data)
			rep.MessageID = "sha256:" + hex.EncodeToString(sum[:16])
		}
		if reports[rep.MessageID] {
			r.Known++
			move = append(move, m.UID)
			return nil
		}
		matched, unmatched := sent.Match(rep)
		if len(matched) == 0 || len(unmatched) > 0 {
			r.Unmatched = append(r.Unmatched, rep)
		}
		recorded := false
		for _, mt := range matched {
			if mt.Action != Failed && mt.Action != Delayed {
				continue // delivered, relayed, expanded: nothing to record
			}
			l := letters[mt.Letter.Key]
			lower := strings.ToLower(mt.Rcpt)
			if l.state[lower] == journal.Bounced {
				continue // already bounced: a later delay or a second bounce adds nothing
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
			recorded = true
			r.Recorded = append(r.Recorded, Recorded{Match: mt, Line: rec.Line, Code: rec.Code, Report: rep})
		}
		if recorded || len(matched) > 0 {
			reports[rep.MessageID] = true
			move = append(move, m.UID)
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

var replyCodeRE = regexp.MustCompile(`^([245]\d\d)[ -]`)

// replyCode is the SMTP reply code a diagnostic starts with, or 0.
func replyCode(diagnostic string) int {
	if m := replyCodeRE.FindStringSubmatch(diagnostic); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
