package pgjournal

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// ErrNoJournal is wrapped when the database has no journal of the
// campaign: nothing was sent for it. It is an fs.ErrNotExist, as a
// journal file that is not there.
var ErrNoJournal = fmt.Errorf("no journal of the campaign: %w", fs.ErrNotExist)

// Records reads the campaign's records, in order, as journal.Read reads
// a file's, without the lock (a send may be running): what is committed
// so far. It is journal.Records for the journal in the database.
func (d DB) Records(ctx context.Context) journal.Records {
	return func(fn func(journal.Record) error) error {
		conn, err := d.connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		id, err := d.find(ctx, conn)
		if err != nil {
			return err
		}
		return d.records(ctx, conn, id, fn)
	}
}

// find returns the id of the campaign's row; an error wrapping
// ErrNoJournal when there is none.
func (d DB) find(ctx context.Context, conn *pgx.Conn) (int64, error) {
	v, err := version(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("read the journal, %s: %w", d.Where(), d.safe(err))
	}
	if v == 0 {
		return 0, fmt.Errorf("%s: %w", d.Where(), ErrNoJournal)
	}
	var id int64
	err = conn.QueryRow(ctx, "SELECT id FROM mailmerge.campaigns WHERE name = $1", d.Campaign).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%s: %w", d.Where(), ErrNoJournal)
	}
	if err != nil {
		return 0, fmt.Errorf("read the journal, %s: %w", d.Where(), d.safe(err))
	}
	return id, nil
}

// records calls fn for every record of the campaign id, in order,
// checked as a replay of a file checks its lines.
func (d DB) records(ctx context.Context, conn *pgx.Conn, id int64, fn func(journal.Record) error) error {
	rows, err := conn.Query(ctx, "SELECT seq, rec::text FROM mailmerge.records WHERE campaign = $1 ORDER BY seq", id)
	if err != nil {
		return fmt.Errorf("read the journal, %s: %w", d.Where(), d.safe(err))
	}
	defer rows.Close()
	var seq int64
	var text []byte
	for rows.Next() {
		if err := rows.Scan(&seq, &text); err != nil {
			return fmt.Errorf("read the journal, %s: %w", d.Where(), d.safe(err))
		}
		r, err := journal.Decode(text)
		if errors.Is(err, journal.ErrNotARecord) {
			return fmt.Errorf("journal %s: record %d is not a valid record: the table was changed by hand", d.Where(), seq)
		}
		if err != nil {
			return fmt.Errorf("journal %s: record %d %w", d.Where(), seq, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the journal, %s: %w", d.Where(), d.safe(err))
	}
	return nil
}

// Secret returns the campaign's secret (MakeSecret), without making it:
// nil, nil when the campaign has none yet (nothing sent).
func (d DB) Secret(ctx context.Context) ([]byte, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	id, err := d.find(ctx, conn)
	if errors.Is(err, ErrNoJournal) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var secret []byte
	if err := conn.QueryRow(ctx, "SELECT secret FROM mailmerge.campaigns WHERE id = $1", id).Scan(&secret); err != nil {
		return nil, fmt.Errorf("read the mailing's secret, %s: %w", d.Where(), d.safe(err))
	}
	return secret, nil
}

// MakeSecret returns the campaign's secret, making it (32 random bytes)
// the first time, as journal.Secret does beside a file: the key of the
// tags that make its letters' Message-IDs and ENVIDs impossible to forge
// (letter.Tag).
func (d DB) MakeSecret(ctx context.Context) ([]byte, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	return d.keepSecret(ctx, secret)
}

// SetSecret keeps secret as the campaign's, for a journal moved here
// from elsewhere (journal import). A secret already there is kept; it
// must be the same.
func (d DB) SetSecret(ctx context.Context, secret []byte) error {
	got, err := d.keepSecret(ctx, secret)
	if err == nil && !bytes.Equal(got, secret) {
		err = fmt.Errorf("%s has a secret already, and another: it is another campaign's journal", d.Where())
	}
	return err
}

// keepSecret makes secret the campaign's, unless it has one, and returns
// the one it has then.
func (d DB) keepSecret(ctx context.Context, secret []byte) ([]byte, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if _, _, err := d.migrate(ctx, conn); err != nil {
		return nil, err
	}
	var got []byte
	err = conn.QueryRow(ctx, `INSERT INTO mailmerge.campaigns (name, secret) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET secret = coalesce(mailmerge.campaigns.secret, EXCLUDED.secret)
		RETURNING secret`, d.Campaign, secret).Scan(&got)
	if err != nil {
		return nil, fmt.Errorf("keep the mailing's secret, %s: %w", d.Where(), d.safe(err))
	}
	return got, nil
}
