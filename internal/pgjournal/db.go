// Package pgjournal keeps a campaign's journal in PostgreSQL instead of a
// file beside its config: the same records (each the JSON object a
// journal file has on one line), the same replay rules (a journal.Index
// filled from them in order), the same guarantees. A letter's eod is
// committed with synchronous_commit on before its final dot; its outcome
// is committed with synchronous_commit off (a crash of mailmerge keeps
// it, a crash of the server may lose it until the next synchronous
// commit, which the write-ahead log orders after it): as a journal file
// has it written, and made durable by the next fsync. One goroutine
// writes, so that the records of all sessions queued while it waits on
// the server go in one transaction: the commits are grouped as a file's
// fsyncs are.
//
// A database holds the journals of many campaigns, by name, in the
// schema mailmerge (docs/journal.md shows its tables). Several sends of a
// campaign may run at once, on several machines: Open holds a shared
// advisory lock on a hash of its name (journal import holds it alone),
// and a send takes each letter it sends by a lease (Journal.Claim), so
// that every letter goes from one of them.
package pgjournal

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mailmerge/mailmerge/internal/remote"
)

// DB is where the journal of a campaign is kept in PostgreSQL.
type DB struct {
	// URL is the database's address:
	// postgres://user@host:5432/db?sslmode=verify-full. It has no
	// password (CheckURL).
	URL string
	// Password is the user's; "" leaves it to PGPASSWORD or ~/.pgpass,
	// which pgx reads.
	Password string
	// Campaign names the campaign whose journal this is.
	Campaign string
	// Notify, if set, is told what the database was made ready with: the
	// tables Open and Migrate create, in plain words.
	Notify func(msg string)
	// Alone opens the journal for this process only: no send of the
	// campaign runs while it is open (journal import). Sends share it.
	Alone bool
	// Lease is how long a letter a process took stays its without being
	// renewed (Journal.Claim); 0 for DefaultLease.
	Lease time.Duration
}

// IsURL reports whether a journal's name is a PostgreSQL URL rather than
// a file's path.
func IsURL(s string) bool {
	s = strings.ToLower(s)
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// CheckURL checks a journal's PostgreSQL URL: it must parse, name a
// database, and hold no password (the config is no place for one).
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a valid PostgreSQL URL (postgres://user@host:5432/database?sslmode=verify-full)")
	}
	if _, ok := u.User.Password(); ok {
		return errors.New("has a password in it: a config is no place for one; give it in the environment variable PGPASSWORD, in ~/.pgpass, or in the variable send.journal_password_env names")
	}
	if u.Query().Has("password") {
		return errors.New("has a password in it (password=): a config is no place for one; give it in PGPASSWORD, ~/.pgpass or send.journal_password_env")
	}
	if strings.Trim(u.Path, "/") == "" {
		return errors.New("names no database: postgres://user@host:5432/database")
	}
	if _, err := pgx.ParseConfig(s); err != nil {
		return fmt.Errorf("is not a valid PostgreSQL URL: %w", err)
	}
	return nil
}

// Where names the journal in messages: the server, the database and the
// campaign, never a password.
func (d DB) Where() string {
	u, err := url.Parse(d.URL)
	if err != nil {
		return fmt.Sprintf("campaign %q in PostgreSQL", d.Campaign)
	}
	return fmt.Sprintf("campaign %q in PostgreSQL %s%s", d.Campaign, u.Host, u.Path)
}

// Database names the database for messages: its server and name.
func (d DB) Database() string {
	if u, err := url.Parse(d.URL); err == nil {
		return u.Host + u.Path
	}
	return "the database"
}

func (d DB) connect(ctx context.Context) (*pgx.Conn, error) {
	if err := CheckURL(d.URL); err != nil {
		return nil, fmt.Errorf("journal: the URL %w", err)
	}
	cfg, err := pgx.ParseConfig(d.URL)
	if err != nil {
		return nil, err
	}
	if d.Password != "" {
		cfg.Password = d.Password
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	host, _ := os.Hostname()
	cfg.RuntimeParams["application_name"] = "mailmerge " + host + " " + strconv.Itoa(os.Getpid())
	// Each statement planned for its values: a plan made once, while the
	// leases table was empty, would scan all of it for every letter
	// (measured: the rate fell from 600 letters/s to 100 in a minute).
	cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the journal's database %s: %w", d.Database(), d.safe(err))
	}
	return conn, nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// Schema is the version of the tables this mailmerge writes.
var Schema = len(migrationFiles())

func migrationFiles() []string {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		panic(err)
	}
	return names // sorted: 001_init.sql, 002_...
}

// migrateLock is the advisory lock two mailmerges making the tables at
// once take in turn.
var migrateLock = lockKey("mailmerge schema")

// lockKey is the key of an advisory lock named s.
func lockKey(s string) int64 {
	sum := sha256.Sum256([]byte("mailmerge\x00" + s))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// version is the schema of the mailmerge tables in the database; 0 for
// none yet.
func version(ctx context.Context, conn *pgx.Conn) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('mailmerge.schema_version') IS NOT NULL").Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM mailmerge.schema_version").Scan(&v)
	return v, err
}

// Migrate brings the mailmerge tables in the database to this version's
// schema, making them the first time, and returns the schema before and
// after. A database of a newer schema is an error: an older mailmerge
// does not write what it does not know.
func (d DB) Migrate(ctx context.Context) (from, to int, err error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.Background())
	return d.migrate(ctx, conn)
}

func (d DB) migrate(ctx context.Context, conn *pgx.Conn) (from, to int, err error) {
	v, err := version(ctx, conn)
	if err != nil {
		return 0, 0, fmt.Errorf("read the schema of the mailmerge tables in %s: %w", d.Database(), d.safe(err))
	}
	if v == Schema {
		return v, v, nil
	}
	if v > Schema {
		return v, v, fmt.Errorf("the mailmerge tables in %s are of schema %d, newer than this mailmerge knows (%d): use a newer mailmerge", d.Database(), v, Schema)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return v, v, err
	}
	defer tx.Rollback(context.Background())
	steps := []string{
		"SELECT pg_advisory_xact_lock(" + strconv.FormatInt(migrateLock, 10) + ")",
		"CREATE SCHEMA IF NOT EXISTS mailmerge",
		"CREATE TABLE IF NOT EXISTS mailmerge.schema_version (version int PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())",
	}
	for _, sql := range steps {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return v, v, fmt.Errorf("make the mailmerge tables in %s: %w", d.Database(), d.safe(err))
		}
	}
	// Another mailmerge may have made them while this one waited.
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM mailmerge.schema_version").Scan(&v); err != nil {
		return v, v, err
	}
	from = v
	for i, name := range migrationFiles() {
		n := i + 1
		if want := fmt.Sprintf("%03d_", n); !strings.HasPrefix(path.Base(name), want) {
			panic("pgjournal: migration " + name + " is not number " + want)
		}
		if n <= v {
			continue
		}
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return from, v, err
		}
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			return from, v, fmt.Errorf("make the mailmerge tables in %s (schema %d): %w", d.Database(), n, d.safe(err))
		}
		if _, err := tx.Exec(ctx, "INSERT INTO mailmerge.schema_version (version) VALUES ($1)", n); err != nil {
			return from, v, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return from, v, fmt.Errorf("make the mailmerge tables in %s: %w", d.Database(), d.safe(err))
	}
	if d.Notify != nil && from < Schema {
		if from == 0 {
			d.Notify(fmt.Sprintf("created the mailmerge tables in %s (schema %d)", d.Database(), Schema))
		} else {
			d.Notify(fmt.Sprintf("updated the mailmerge tables in %s from schema %d to %d", d.Database(), from, Schema))
		}
	}
	return from, Schema, nil
}

// What went wrong with the database, as errors.Is finds it in the
// errors of DB and Journal: their words are for people; these are for
// deciding what to tell them.
var (
	// ErrPassword: the server refused the user's password.
	ErrPassword = errors.New("the database refused the password")
	// ErrUnreachable: no connection to the server.
	ErrUnreachable = errors.New("the database cannot be reached")
	// ErrNoDatabase: the server has no database of the URL's name.
	ErrNoDatabase = errors.New("the database does not exist")
	// ErrDenied: the user may not use the mailmerge tables.
	ErrDenied = errors.New("the database user may not use the mailmerge tables")
)

// serverError is an error from the server or the driver, shown safely:
// its text is data (a server's message may hold what a terminal acts
// on), and never repeats the password.
type serverError struct {
	text string
	err  error
	what error // ErrPassword, ...; nil when none is known
}

func (e *serverError) Error() string { return e.text }
func (e *serverError) Unwrap() []error {
	if e.what == nil {
		return []error{e.err}
	}
	return []error{e.err, e.what}
}

// safe is err as a serverError.
func (d DB) safe(err error) error {
	return &serverError{remote.Hide(remote.Text(err.Error()), d.Password), err, what(err)}
}

// what says which of ErrPassword, ... err is, if any.
func what(err error) error {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &pe):
		switch pe.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			return ErrPassword
		case "3D000": // invalid_catalog_name
			return ErrNoDatabase
		case "42501": // insufficient_privilege
			return ErrDenied
		}
	case errors.As(err, &ce):
		if strings.Contains(ce.Error(), "password") {
			return ErrPassword // none given: pgx fails before asking
		}
		return ErrUnreachable
	}
	return nil
}
