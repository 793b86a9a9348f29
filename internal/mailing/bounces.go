package mailing

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/mailmerge/mailmerge/internal/bounce"
	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/mailbox"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// Bounces reads the mailbox of the imap section for delivery reports
// about the mailing's letters and records them in its journal; moveTo,
// when set, is the folder the reports recorded are moved to. The
// reading it returns, even with an error, counts what was recorded: what
// a reading cut short recorded stays recorded. It is nil when no folder
// was read.
func Bounces(ctx context.Context, cfg *config.Config, moveTo string, ask Prompt) (*bounce.Reading, error) {
	if cfg.IMAP.Host == "" {
		return nil, fail(Config, cfg.KeyErr("imap.host", errors.New("bounces reads your mailbox over IMAP: add an imap: section with host (the IMAP server of your mailbox) and username, and give the password in the environment variable MAILMERGE_IMAP_PASSWORD (or imap.password_file)")))
	}
	paths := bounceJournals(cfg)
	if _, err := os.Stat(paths[0]); errors.Is(err, fs.ErrNotExist) && !cfg.Send.JournalInDB() {
		return nil, &Error{Kind: Data, Err: fmt.Errorf("nothing has been sent for this mailing yet (no journal at %s): run mailmerge send first", paths[0])}
	}
	var journals []Journal
	var cfgs []*config.Config // the config as each journal's reader sees it
	defer func() {
		for _, j := range journals {
			j.Close()
		}
	}()
	letters := 0
	for _, p := range paths {
		pc := *cfg
		pc.Send.Journal = p
		j, _, err := openJournal(ctx, &pc, nil, nil, journalUse{hint: "run bounces when the send has finished"})
		if err != nil {
			return nil, err
		}
		journals, cfgs = append(journals, j), append(cfgs, &pc)
		letters += j.Letters()
	}
	if letters == 0 {
		return nil, &Error{Kind: Data, Err: fmt.Errorf("nothing has been sent for this mailing yet (the journal %s has no letters): run mailmerge send first", paths[0])}
	}
	server, err := MailboxServer(ctx, cfg, ask)
	if err != nil {
		return nil, err
	}
	// One reading ends in imap.total_timeout, whatever the server holds
	// or does; what it recorded by then stays recorded.
	readCtx, cancel := context.WithTimeout(ctx, totalTimeout(cfg))
	defer cancel()
	mb, err := mailbox.Dial(readCtx, server)
	if err != nil {
		return nil, MailboxError(err)
	}
	defer mb.Close()
	// A mailing split into shards: each report goes into the journal of
	// the shard that sent its letter, read in turn.
	var total *bounce.Reading
	for i, j := range journals {
		r, err := bounce.ReadFrom(readCtx, j, journalRecords(readCtx, cfgs[i]), mb, bounce.Options{Folder: cfg.IMAP.Mailbox, MoveTo: moveTo})
		if r != nil && err != nil && len(r.Recorded) == 0 {
			r = nil // counts of a folder never read would read as "no bounces"
		}
		if r != nil && ctx.Err() == nil {
			placeNow(ctx, cfg, j, r.Recorded)
		}
		total = addReading(total, r)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return total, &Error{Kind: Unavailable, Err: fmt.Errorf("reading the mailbox took longer than imap.total_timeout (%v): the reports read so far are recorded; run bounces again for the rest", totalTimeout(cfg))}
		}
		if err != nil {
			return total, MailboxError(err)
		}
	}
	return total, nil
}

// bounceJournals are the journals bounces records reports in: the
// mailing's; or, when it has no records and the mailing is split into
// shards, its shards' journals beside it.
func bounceJournals(cfg *config.Config) []string {
	base := cfg.Send.Journal
	if cfg.Send.JournalInDB() {
		return []string{base} // no shards there
	}
	shards := shardJournals(base)
	if len(shards) == 0 || hasRecords(base) {
		return []string{base}
	}
	var paths []string
	for _, sj := range shards {
		paths = append(paths, sj.path)
	}
	return paths
}

// addReading adds to total, the readings of the mailbox for the journals
// before, r, the reading for the next (nil for none). A report is
// unmatched when no journal's reading matched it.
func addReading(total, r *bounce.Reading) *bounce.Reading {
	switch {
	case r == nil:
		return total
	case total == nil:
		c := *r
		return &c
	}
	if total.Since.IsZero() || !r.Since.IsZero() && r.Since.Before(total.Since) {
		total.Since = r.Since
	}
	total.Messages, total.Skipped = max(total.Messages, r.Messages), max(total.Skipped, r.Skipped)
	total.Recorded = append(total.Recorded, r.Recorded...)
	total.Known += r.Known
	total.Moved += r.Moved
	if r.Messages > 0 {
		unmatched := map[string]bool{}
		for _, rep := range r.Unmatched {
			unmatched[rep.MessageID] = true
		}
		total.Unmatched = slices.DeleteFunc(total.Unmatched, func(rep *bounce.Report) bool { return !unmatched[rep.MessageID] })
	}
	return total
}

// placeNow sets the line of each letter recorded to its line in the
// recipient list as it is now (bounce.Recorded), matched by the letter's
// identity: rows added above it since the send moved it. A letter the
// list no longer makes, or a list that cannot be read, leaves the line
// as sent alone to say (Line 0).
func placeNow(ctx context.Context, cfg *config.Config, j Journal, recorded []bounce.Recorded) {
	if len(recorded) == 0 {
		return
	}
	lines := map[string]int{}
	for _, rec := range recorded {
		lines[rec.Letter.Key] = 0
	}
	place := func(l *letter.Letter) {
		if _, ok := lines[l.Key.String()]; ok {
			lines[l.Key.String()] = l.Line
		}
	}
	quiet := campaign.New(cfg, campaign.Options{OnError: func(error) {}, OnWarning: func(error) {}, Known: j.Known, OnSuppressed: place})
	sum, err := quiet.Envelopes(ctx, func(l *letter.Letter, _ *recipients.Record) error {
		place(l)
		return nil
	})
	if err != nil && !(errors.Is(err, campaign.ErrProblems) && sum.Skippable()) {
		clear(lines) // the list, or the template, cannot be read: no line now
	}
	for i := range recorded {
		recorded[i].Line = lines[recorded[i].Letter.Key]
	}
}
