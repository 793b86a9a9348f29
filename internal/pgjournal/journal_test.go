package pgjournal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/journal/journaltest"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

// pgImpl is the journal in PostgreSQL, a database of its own per test.
func pgImpl(srv *testpg.Server) journaltest.Impl {
	return journaltest.Impl{Name: "postgres", New: func(t *testing.T) journaltest.Store {
		// Alone: the suite's lock is the one journal import takes; sends
		// share theirs (TestClaim).
		return pgStore{pgjournal.DB{URL: srv.NewDB(t), Password: testpg.Password, Campaign: "Выпускной 2026", Alone: true}}
	}}
}

type pgStore struct{ db pgjournal.DB }

func (s pgStore) Open(now func() time.Time) (journaltest.Journal, error) {
	j, err := s.db.Open(context.Background(), now)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.MakeSecret(context.Background()); err != nil {
		j.Close()
		return nil, err
	}
	return j, nil
}

func (s pgStore) Records() journal.Records { return s.db.Records(context.Background()) }

func (s pgStore) Secret() ([]byte, error) { return s.db.Secret(context.Background()) }

// TestJournal runs the suite every journal passes on both journals: a
// file and PostgreSQL answer alike.
func TestJournal(t *testing.T) {
	srv := testpg.Start(t)
	for _, impl := range []journaltest.Impl{journaltest.File(), pgImpl(srv)} {
		t.Run(impl.Name, func(t *testing.T) { journaltest.Run(t, impl) })
	}
}

// TestMigrate: the first use makes the tables and says so; later uses
// say nothing; a database of a newer schema is refused.
func TestMigrate(t *testing.T) {
	srv := testpg.Start(t)
	var said []string
	db := pgjournal.DB{URL: srv.NewDB(t), Password: testpg.Password, Campaign: "c", Notify: func(m string) { said = append(said, m) }}
	ctx := context.Background()
	j, err := db.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	want := fmt.Sprintf("created the mailmerge tables in 127.0.0.1:%d/t1 (schema %d)", srv.Port, pgjournal.Schema)
	if len(said) != 1 || said[0] != want {
		t.Errorf("said %q, want %q", said, want)
	}
	if from, to, err := db.Migrate(ctx); err != nil || from != pgjournal.Schema || to != pgjournal.Schema || len(said) != 1 {
		t.Errorf("Migrate again: %d to %d, %v, said %q; want nothing done", from, to, err, said)
	}
	if err := srv.Exec(ctx, "t1", "INSERT INTO mailmerge.schema_version (version) VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Open(ctx, nil); err == nil || !strings.Contains(err.Error(), "schema 99, newer than this mailmerge knows") {
		t.Errorf("Open of a newer schema: %v", err)
	}
}

// TestNoJournal: reading a campaign never sent is fs.ErrNotExist, as a
// journal file that is not there; so is a database without the tables.
func TestNoJournal(t *testing.T) {
	srv := testpg.Start(t)
	db := pgjournal.DB{URL: srv.NewDB(t), Password: testpg.Password, Campaign: "c"}
	read := func() error { return db.Records(context.Background())(func(journal.Record) error { return nil }) }
	if err := read(); !errors.Is(err, pgjournal.ErrNoJournal) {
		t.Errorf("no tables: %v", err)
	}
	j, err := (pgjournal.DB{URL: db.URL, Password: testpg.Password, Campaign: "other"}).Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if err := read(); !errors.Is(err, pgjournal.ErrNoJournal) {
		t.Errorf("another campaign's tables: %v", err)
	}
}

// TestPassword: a URL with a password in it is refused, naming why; a
// wrong password is the server's refusal, and says nothing of it.
func TestPassword(t *testing.T) {
	if err := pgjournal.CheckURL("postgres://mm:hunter2@db.example.org/mail"); err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "password") {
		t.Errorf("CheckURL with a password: %v", err)
	}
	if err := pgjournal.CheckURL("postgres://mm@db.example.org:5432/mail?sslmode=verify-full"); err != nil {
		t.Errorf("CheckURL: %v", err)
	}
	srv := testpg.Start(t)
	db := pgjournal.DB{URL: srv.NewDB(t), Password: "wrong-pw", Campaign: "c"}
	t.Setenv("PGPASSWORD", "")
	_, err := db.Open(context.Background(), nil)
	if err == nil || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("Open with a wrong password: %v", err)
	}
	t.Setenv("PGPASSWORD", testpg.Password)
	db.Password = ""
	j, err := db.Open(context.Background(), nil)
	if err != nil {
		t.Fatalf("Open with PGPASSWORD: %v", err)
	}
	j.Close()
}
