package mailing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/copies"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/mailbox"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// sentFolder is the IMAP side of a send that saves copies of its letters
// (imap.save_copies): nil when it does not.
type sentFolder struct {
	cfg    *config.Config
	server mailbox.Server
}

// openSentFolder logs in to the IMAP server and checks the Sent folder,
// before anything is sent: a wrong password is found now, not after the
// letters went out.
func openSentFolder(ctx context.Context, cfg *config.Config, ask Prompt) (*sentFolder, error) {
	if !cfg.IMAP.SaveCopies || cfg.Maildir.Path != "" {
		return nil, nil // copies are of letters sent to a server
	}
	server, err := MailboxServer(ctx, cfg, ask)
	if err != nil {
		return nil, err
	}
	mb, err := mailbox.Dial(ctx, server)
	if err != nil {
		return nil, MailboxError(err)
	}
	defer mb.Close()
	if _, err := mb.Examine(ctx, cfg.IMAP.SentFolder); err != nil {
		return nil, MailboxError(err)
	}
	return &sentFolder{cfg: cfg, server: server}, nil
}

// save saves a copy of each letter delivered that has none yet, in CSV
// order, and returns how many it saved or found there.
func (f *sentFolder) save(ctx context.Context, c *campaign.Campaign, j Journal, dest string) (int, error) {
	cp, err := copies.Of(journalRecords(ctx, f.cfg), dest, f.cfg.IMAP.SentFolder)
	if err != nil || cp.Missing() == 0 {
		return 0, err
	}
	// Letters whose rows were removed since keep no copy to save: look
	// for one the list still makes before logging in.
	needed := false
	_, err = c.Envelopes(ctx, func(l *letter.Letter, _ *recipients.Record) error {
		if _, ok := cp.Needs(l.Key); ok {
			needed = true
			return campaign.ErrStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, campaign.ErrProblems) {
		return 0, err
	}
	if !needed {
		return 0, nil
	}
	mb, err := mailbox.Dial(ctx, f.server)
	if err != nil {
		return 0, f.failed(MailboxError(err))
	}
	defer mb.Close()
	s := &copies.Saver{Copies: cp, Journal: j, Box: mb, Build: func(l *letter.Letter, date time.Time) ([]byte, error) {
		return c.BuildAt(ctx, l, date) // a page is printed again for its copy
	}}
	if pj, ok := j.(*pgjournal.Journal); ok {
		s.Claims = pj // other machines may save copies at once
	}
	_, err = c.Letters(ctx, func(l *letter.Letter, _ *recipients.Record) error { return s.Add(ctx, l) })
	if err == nil || errors.Is(err, campaign.ErrProblems) {
		err = s.Flush(ctx)
	}
	if err != nil {
		return s.Saved + s.Found, f.failed(MailboxError(err))
	}
	return s.Saved + s.Found, nil
}

func (f *sentFolder) failed(err error) error {
	e := &Error{Kind: Unavailable, Err: err}
	errors.As(err, &e)
	e.Hint = "the letters were sent; run send again to save the copies still missing"
	return e
}

// maxLookup caps the letters send looks for in the Sent folder before it
// sends: a mailing of more goes without the look (and says so).
const maxLookup = 50_000

// lookInSent looks, before a send, for the letters never sent from here
// and those of unknown fate in the Sent folder (imap.sent_folder), by
// their keys: a letter there (its Message-ID, with any copy's tag, not a
// test copy's) went out before, from a copy of this mailing on another
// machine, or in a run whose reply was lost. Each one found is recorded
// as delivered, its copy as saved, and is not sent again. A letter not
// found stays as it was: a relay that does not file what it sends proves
// nothing by a miss. A letter the journal knows in part (a recipient
// deferred, another refused) is left to the journal. A mailbox that
// cannot be read is a warning, not a stop; --new-mailing skips the look.
func (s *send) lookInSent(ctx context.Context) error {
	cfg, pool := s.cfg, s.pool
	if cfg.IMAP.Host == "" || cfg.IMAP.SentFolder == "" || cfg.Maildir.Path != "" || pool.Redirect != nil || s.opts.NewMailing || s.later {
		return nil
	}
	type candidate struct {
		l       *letter.Letter
		rcpt    []string
		unknown bool
	}
	var todo []candidate
	var keys []string
	// A pass of its own, quiet: the check that follows says what is wrong
	// with the rows, once.
	quiet := campaign.New(cfg, campaign.Options{OnError: func(error) {}, OnWarning: func(error) {}, Known: s.journal.Known, Shard: s.opts.Shard})
	_, err := quiet.Envelopes(ctx, func(l *letter.Letter, _ *recipients.Record) error {
		e, due := pool.Lookup(l)
		switch {
		case !e.Known && len(due) > 0: // never sent from here
			todo = append(todo, candidate{l, due, false})
		case e.State == journal.Unknown && len(e.Rcpts) == 0 && len(due) == 0:
			todo = append(todo, candidate{l, slices.DeleteFunc(slices.Clone(l.Recipients), l.IsSuppressed), true})
		default:
			return nil
		}
		keys = append(keys, l.Key.String())
		if len(todo) > maxLookup {
			return campaign.ErrStop
		}
		return nil
	})
	switch {
	case errors.Is(err, campaign.ErrStop):
		fmt.Fprintf(s.notes, "note: more than %d letters to send: they are not looked for in %s first\n", maxLookup, cfg.IMAP.SentFolder)
		return nil
	case err != nil && !errors.Is(err, campaign.ErrProblems):
		return err
	case len(todo) == 0:
		return nil
	}
	server, err := MailboxServer(ctx, cfg, s.opts.Ask)
	if err != nil {
		return err
	}
	lookCtx, cancel := context.WithTimeout(ctx, totalTimeout(cfg))
	defer cancel()
	found, err := func() (map[string][]string, error) {
		mb, err := mailbox.Dial(lookCtx, server)
		if err != nil {
			return nil, err
		}
		defer mb.Close()
		return mb.FindMessageIDs(lookCtx, cfg.IMAP.SentFolder, keys)
	}()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(s.notes, "warning: %v: the letters to send were not looked for in %s first\n", err, cfg.IMAP.SentFolder)
		return nil
	}
	wasUnknown, n := 0, 0
	for _, cd := range todo {
		i := slices.IndexFunc(found[cd.l.Key.String()], cd.l.Key.Names)
		if i < 0 {
			continue
		}
		n++
		text := "found in " + cfg.IMAP.SentFolder + ": sent before, from another copy of this mailing or in a run whose record was lost"
		if cd.unknown {
			wasUnknown++
			text = "found in " + cfg.IMAP.SentFolder + ": the letter of unknown fate went out"
		}
		rec := journal.Record{Key: cd.l.Key, Dest: pool.Transport.Destination(), Line: cd.l.Line, Rcpt: cd.rcpt,
			FP: cd.l.Fingerprint, Made: cd.l.Made, MessageID: found[cd.l.Key.String()][i], Attempt: 1, State: journal.Delivered, Text: text}
		if err := s.journal.Commit(rec); err != nil {
			return fail(Internal, err)
		}
		// Its copy is the one found: none is saved again.
		rec.State, rec.Copy, rec.Text = journal.Copied, cfg.IMAP.SentFolder, ""
		if err := s.journal.Commit(rec); err != nil {
			return fail(Internal, err)
		}
	}
	if n > 0 {
		fmt.Fprintf(s.notes, "found %s in %s already: recorded as delivered, not sent again", Plural(n, "letter"), cfg.IMAP.SentFolder)
		if wasUnknown > 0 {
			fmt.Fprintf(s.notes, " (%d of them of unknown fate before)", wasUnknown)
		}
		fmt.Fprintln(s.notes)
	}
	return nil
}
