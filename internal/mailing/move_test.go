package mailing

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

// TestCopyJournalRoundTrip: a file journal exported to PostgreSQL and
// back is the same file, byte for byte, with the same secret; the
// database's journal answers as the file's; a journal with records is
// not copied into.
func TestCopyJournalRoundTrip(t *testing.T) {
	srv := testpg.Start(t)
	t.Setenv("MM_TEST_JOURNAL_PW", testpg.Password)
	dir := t.TempDir()
	path := filepath.Join(dir, "teacher.journal")
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i, name := range []string{"anna", "boris", "вера", "gleb"} {
		k := letter.NewKey("c", []string{name}, 0)
		base := journal.Record{Time: at.Add(time.Duration(i) * time.Minute), Key: k, Dest: "smtp", Line: i + 2, Rcpt: []string{name + "@example.com"}, FP: uint64(i + 1), MessageID: "<" + name + "@x>", Attempt: 1}
		for _, st := range []journal.State{journal.Attempt, journal.EOD, journal.Delivered} {
			r := base
			r.State = st
			if name == "gleb" && st == journal.Delivered {
				r.State, r.Code, r.Text = journal.Failed, 550, "5.1.1 нет такого ящика"
			}
			if err := j.Commit(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	secret, err := journal.Secret(path, true)
	if err != nil {
		t.Fatal(err)
	}

	db := srv.NewDB(t)
	cfg := &config.Config{Campaign: "Выпускной", Send: config.Send{Journal: path, JournalPasswordEnv: "MM_TEST_JOURNAL_PW"}}
	ctx := context.Background()
	var notes bytes.Buffer
	if n, err := CopyJournal(ctx, cfg, path, db, &notes); err != nil || n != 12 {
		t.Fatalf("export to PostgreSQL: %d, %v", n, err)
	}
	if !strings.Contains(notes.String(), "created the mailmerge tables") {
		t.Errorf("notes %q: the tables made go unsaid", notes.String())
	}
	server := *cfg
	server.Send.Journal = db
	pj, _, err := openJournal(ctx, &server, nil, nil, journalUse{secret: true})
	if err != nil {
		t.Fatal(err)
	}
	if e := pj.Lookup(letter.NewKey("c", []string{"gleb"}, 0), "smtp"); e.State != journal.Failed || pj.Letters() != 4 {
		t.Errorf("the database's journal: gleb %+v, %d letters", e, pj.Letters())
	}
	pj.Close()
	if got, _ := campaignSecret(ctx, &server); !bytes.Equal(got, secret) {
		t.Errorf("the database's secret %x, want the file's %x", got, secret)
	}

	back := filepath.Join(dir, "back.journal")
	if n, err := CopyJournal(ctx, &server, db, back, &notes); err != nil || n != 12 {
		t.Fatalf("export to a file: %d, %v", n, err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(back)
	if !bytes.Equal(a, b) {
		t.Errorf("the journal back from PostgreSQL differs:\n%s\nwant\n%s", b, a)
	}
	if got, _ := journal.Secret(back, false); !bytes.Equal(got, secret) {
		t.Errorf("the secret back %x, want %x", got, secret)
	}
	if _, err := CopyJournal(ctx, cfg, path, db, &notes); err == nil || !strings.Contains(err.Error(), "has records already") {
		t.Errorf("a second export into the same campaign: %v", err)
	}
	if _, err := CopyJournal(ctx, cfg, path, strings.Replace(db, "postgres@", "postgres:"+testpg.Password+"@", 1), &notes); err == nil || strings.Contains(err.Error(), testpg.Password) {
		t.Errorf("a URL with a password: %v", err)
	}
}
