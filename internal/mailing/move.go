package mailing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// MigrateJournal makes, or brings up to date, the mailmerge tables in
// the PostgreSQL database send.journal names, and says what it did to
// notes.
func MigrateJournal(ctx context.Context, cfg *config.Config, notes io.Writer) error {
	db, ok := journalDB(cfg, notes)
	if !ok {
		return fail(Config, cfg.KeyErr("send.journal", errors.New("names a file, which needs no migration: journal migrate is for a journal in PostgreSQL (postgres://...)")))
	}
	from, to, err := db.Migrate(ctx)
	if err != nil {
		return journalFailed(cfg, Internal, err)
	}
	if from == to {
		fmt.Fprintf(notes, "the mailmerge tables in %s are up to date (schema %d)\n", db.Database(), to)
	}
	return nil
}

// CopyJournal copies the journal of the mailing named from (a file's
// path, or a PostgreSQL URL) into the one named to, which must have no
// records yet: every record, in order, and the campaign's secret. It is
// journal export (from the config's journal) and import (into it), so
// that a campaign moves between a file and a database, both ways. It
// returns the records copied.
func CopyJournal(ctx context.Context, cfg *config.Config, from, to string, notes io.Writer) (int, error) {
	src, dst := *cfg, *cfg
	src.Send.Journal, dst.Send.Journal = from, to
	for _, c := range []*config.Config{&src, &dst} {
		if !c.Send.JournalInDB() {
			c.Send.JournalPasswordEnv = "" // the database's, of the other side
		}
		if err := c.ValidateJournal(); err != nil {
			return 0, fail(Config, err)
		}
	}
	n := 0
	err := journalRecords(ctx, &dst)(func(journal.Record) error { n++; return nil })
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return 0, fail(Internal, err)
	case n > 0:
		return 0, fail(Data, fmt.Errorf("the journal %s has records already: copying another into it would mix two mailings; copy into a new one", to))
	}
	secret, err := campaignSecret(ctx, &src)
	if err != nil {
		return 0, fail(Internal, err)
	}
	j, _, err := openJournal(ctx, &dst, nil, notes, journalUse{hint: "wait for the send to finish", alone: true})
	if err != nil {
		return 0, err
	}
	// A commit every so many records: a million letters' journal is not
	// held whole in memory, nor sent in one transaction.
	err = journalRecords(ctx, &src)(func(r journal.Record) error {
		n++
		if n%5000 == 0 {
			return j.Commit(r)
		}
		return j.Append(r)
	})
	if cerr := j.Close(); err == nil {
		err = cerr
	}
	if err == nil && secret != nil {
		if db, ok := journalDB(&dst, nil); ok {
			err = db.SetSecret(ctx, secret)
		} else {
			err = journal.SetSecret(to, secret)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fail(Data, fmt.Errorf("no journal at %s: nothing has been sent for this campaign", from))
	}
	if err != nil {
		return n, fail(Internal, err)
	}
	return n, nil
}
