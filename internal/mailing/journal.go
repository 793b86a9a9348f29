package mailing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mailmerge/mailmerge/internal/bounce"
	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/copies"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// Journal is an open journal of a mailing, as the use cases use it: a
// file (*journal.Journal), or PostgreSQL. It is what the pool, the plan,
// the Sent folder's copies and the bounces record and ask, and what a
// send does with it besides.
type Journal interface {
	sender.Journal
	campaign.Journal
	copies.Journal
	bounce.Journal
	// Grow makes room in the index for n more letters.
	Grow(n int)
	// RecordInvalid records a row that made no letter, left out of a
	// send on request.
	RecordInvalid(key letter.Key, dest string, line int, fp uint64, problem string) error
	// Close writes what is queued, makes it durable, and gives the lock
	// back.
	Close() error
}

// journalDB is the journal in PostgreSQL that send.journal names, its
// password from send.journal_password_env's variable (else PGPASSWORD or
// ~/.pgpass); ok is false for a journal file. What the database is made
// ready with goes to notes (nil for nowhere).
func journalDB(cfg *config.Config, notes io.Writer) (db pgjournal.DB, ok bool) {
	if !cfg.Send.JournalInDB() {
		return pgjournal.DB{}, false
	}
	db = pgjournal.DB{URL: cfg.Send.Journal, Campaign: cfg.Campaign, Lease: cfg.Send.Lease}
	if env := cfg.Send.JournalPasswordEnv; env != "" {
		db.Password = os.Getenv(env)
	}
	if notes != nil {
		db.Notify = func(msg string) { fmt.Fprintln(notes, msg) }
	}
	return db, true
}

// journalRecords reads the records of the mailing's journal, a file's or
// the database's, without its lock.
func journalRecords(ctx context.Context, cfg *config.Config) journal.Records {
	if db, ok := journalDB(cfg, nil); ok {
		return db.Records(ctx)
	}
	return journal.File(cfg.Send.Journal)
}

// campaignSecret is the campaign's secret as far as there is one
// (journal.Secret), without making it.
func campaignSecret(ctx context.Context, cfg *config.Config) ([]byte, error) {
	if db, ok := journalDB(cfg, nil); ok {
		return db.Secret(ctx)
	}
	return journal.Secret(cfg.Send.Journal, false)
}

// journalUse is how a command opens a mailing's journal: hint says what
// to do when another command holds it. A journal in PostgreSQL is shared
// by the sends of its campaign, on several machines, unless alone.
type journalUse struct {
	hint   string
	alone  bool
	secret bool // return the campaign's secret, made on the first send
}

// openJournal opens a mailing's journal, a file or in PostgreSQL, dating
// its records by now (nil for time.Now). With use.secret it also returns
// the campaign's secret, made on the first send (journal.Secret).
func openJournal(ctx context.Context, cfg *config.Config, now func() time.Time, notes io.Writer, use journalUse) (Journal, []byte, error) {
	var j Journal
	var err error
	var makeSecret func() ([]byte, error)
	hint, secret := use.hint, use.secret
	if db, ok := journalDB(cfg, notes); ok {
		db.Alone = use.alone
		var pj *pgjournal.Journal
		if pj, err = db.Open(ctx, now); err == nil {
			j = pj
		}
		makeSecret = func() ([]byte, error) { return db.MakeSecret(ctx) }
	} else {
		var fj *journal.Journal
		if fj, err = journal.Open(cfg.Send.Journal); err == nil {
			fj.Now, j = now, fj
		}
		makeSecret = func() ([]byte, error) { return journal.Secret(cfg.Send.Journal, true) }
	}
	switch {
	case errors.Is(err, journal.ErrLocked):
		return nil, nil, &Error{Kind: Locked, Err: err, Hint: hint}
	case errors.Is(err, journal.ErrNotAFile):
		return nil, nil, &Error{Kind: Config, Err: err}
	case err != nil:
		return nil, nil, journalFailed(cfg, Internal, err)
	case !secret:
		return j, nil, nil
	}
	key, err := makeSecret()
	if err != nil {
		j.Close()
		return nil, nil, fail(Internal, err)
	}
	return j, key, nil
}

// shared is the daily limit w as the sends of the campaign on other
// machines share it, counted in the journal's database; nil for a
// journal file, or no limit.
func (s *send) shared(w *window) sender.Allowance {
	pj, ok := s.journal.(*pgjournal.Journal)
	if !ok || w == nil {
		return nil
	}
	before := make([]pgjournal.Spent, len(w.counted))
	for i, d := range w.counted {
		before[i] = pgjournal.Spent{At: d.Time, N: w.cost(d)}
	}
	return pj.Allowance(w.account, w.quota.N, w.quota.Per, w.recipients, before)
}

// pace is an account's send.rate: this run's own, and, with a journal in
// PostgreSQL, the rate as the sends of the campaign on other machines
// share it too.
func (s *send) pace(account string, r config.Rate) sender.Limiter {
	own := sender.NewLimiter(r.N, r.Per)
	pj, ok := s.journal.(*pgjournal.Journal)
	if !ok || own == nil {
		return own
	}
	return sender.Both(own, pj.Pace(account, r.N, r.Per))
}

// journalFailed is err, from the journal's database, as an *Error that
// says in plain words what went wrong and what to do: a password
// refused, a server not reached, no such database, no right to the
// tables. Other errors are of kind k.
func journalFailed(cfg *config.Config, k Kind, err error) error {
	where := "the journal's database"
	if db, ok := journalDB(cfg, nil); ok {
		where += " (" + db.Where() + ")"
	}
	switch {
	case errors.Is(err, pgjournal.ErrPassword):
		hint := "give the database user's password in PGPASSWORD or ~/.pgpass, or in a variable send.journal_password_env names"
		if env := cfg.Send.JournalPasswordEnv; env != "" && os.Getenv(env) == "" {
			hint = fmt.Sprintf("$%s, which send.journal_password_env names, is not set: set it to the database user's password", env)
		} else if env != "" {
			hint = fmt.Sprintf("check the password in $%s (send.journal_password_env)", env)
		}
		return &Error{Kind: Auth, Err: fmt.Errorf("%s refused the password: %w", where, err), Hint: hint}
	case errors.Is(err, pgjournal.ErrUnreachable):
		return &Error{Kind: Unavailable, Err: fmt.Errorf("cannot reach %s: %w", where, err),
			Hint: "is PostgreSQL running there, and does it take connections from this machine (listen_addresses, pg_hba.conf)? send.journal names the server"}
	case errors.Is(err, pgjournal.ErrNoDatabase):
		return &Error{Kind: Config, Err: fmt.Errorf("%s does not exist: %w", where, err),
			Hint: "create it (createdb), or fix the database's name in send.journal"}
	case errors.Is(err, pgjournal.ErrDenied):
		return &Error{Kind: Config, Err: fmt.Errorf("the database user may not use the mailmerge tables in %s: %w", where, err),
			Hint: "run mailmerge journal migrate as the tables' owner, then grant the user what docs/scaling.md (Several machines) lists"}
	}
	return fail(k, err)
}
