package bounce

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/mailbox"
)

// folder is a mailbox folder in memory (the real one is tested against
// Dovecot in package mailbox and in the CLI's tests).
type folder struct {
	msgs  [][]byte
	moved []imap.UID
}

func (f *folder) Messages(_ context.Context, _ string, _ time.Time, want func([]byte) bool, fn func(mailbox.Message) error) (int, error) {
	for i, m := range f.msgs {
		if !want(m) {
			continue
		}
		if err := fn(mailbox.Message{UID: imap.UID(i + 1), Data: m}); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func (f *folder) Move(_ context.Context, uids []imap.UID, _ string) error {
	f.moved = append(f.moved, uids...)
	return nil
}

func fixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sentAt is when the fixtures' letters went out: the morning before their
// reports (dated 26 and 27 November 2026). Read compares a report's date
// with its letter's, so the letters carry a date of their own, never the
// day the test runs.
var sentAt = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// sentJournal records the fixtures' letters as delivered (and one only
// as a test send).
func sentJournal(t *testing.T) (*journal.Journal, string) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	for i, l := range sent().byKey {
		var key letter.Key
		if err := key.UnmarshalText([]byte(l.Key)); err != nil {
			t.Fatalf("%s: %v", l.Key, err)
		}
		r := journal.Record{Time: sentAt, Key: key, Dest: "smtp:mx:25", Line: len(i), Rcpt: l.Rcpt, MessageID: l.MessageID, Attempt: 1, State: journal.Delivered, FP: 7}
		if strings.HasPrefix(l.Key, "d4f6") { // Yandex's: sent only to a tester
			r.Test = "me@example.org"
		}
		if err := j.Commit(r); err != nil {
			t.Fatal(err)
		}
	}
	return j, path
}

func TestRead(t *testing.T) {
	j, path := sentJournal(t)
	f := &folder{msgs: [][]byte{
		fixture(t, "postfix-failed.eml"),
		fixture(t, "postfix-delayed.eml"),
		fixture(t, "reply.eml"),
		fixture(t, "yandex.eml"), // about a test send: not the recipient's
		fixture(t, "exim-plain.eml"),
	}}
	r, err := Read(context.Background(), j, path, f, Options{Folder: "INBOX", MoveTo: "Bounces"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range r.Recorded {
		got = append(got, rec.Rcpt+" "+string(rec.Action))
	}
	if want := "Ivanov.Petr@example.com failed, sidorova@students.example.net delayed, a.smirnov@university.example failed"; strings.Join(got, ", ") != want || r.Messages != 4 /* the reply is not read whole */ || len(r.Unmatched) != 1 || r.Unmatched[0].Subject != "Недоставленное сообщение" {
		t.Errorf("recorded %q, %d messages, unmatched %d; want %q", got, r.Messages, len(r.Unmatched), want)
	}
	if r.Moved != 3 || len(f.moved) != 3 {
		t.Errorf("moved %v, want the three recorded", f.moved)
	}
	key := func(s string) letter.Key { var k letter.Key; k.UnmarshalText([]byte(s)); return k }
	e := j.Lookup(key("k5tq2mvxh7ngz3e4rj6wd2fy4pq3ulcs"), "smtp:mx:25")
	if st, _ := e.StateOf("ivanov.petr@example.com"); st != journal.Bounced {
		t.Errorf("bounced recipient: %s", st)
	}
	if st, _ := e.StateOf("ivanov.parent@example.com"); st != journal.Delivered {
		t.Errorf("the letter's other recipient: %s", st)
	}
	for _, s := range []journal.State{journal.Bounced, journal.Delayed} {
		if journal.Due(s, true) {
			t.Errorf("%s is due for a send", s)
		}
	}

	// Read again, with a bounce after the delay: nothing recorded twice,
	// and the bounce overrides the delay.
	later := strings.Replace(string(fixture(t, "postfix-delayed.eml")), "Action: delayed\nStatus: 4.4.1", "Action: failed\nStatus: 5.4.7", 1)
	later = strings.Replace(later, "Message-Id: <20261127140003.8A1B2C3D4E@mx.example.org>", "Message-Id: <later@mx.example.org>", 1)
	f.msgs = append(f.msgs, []byte(later), fixture(t, "postfix-delayed.eml"))
	f.moved = nil
	r, err = Read(context.Background(), j, path, f, Options{Folder: "INBOX"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Recorded) != 1 || r.Recorded[0].Status != "5.4.7" || r.Known != 4 || len(f.moved) != 0 {
		t.Errorf("second reading: recorded %+v, known %d, moved %v", r.Recorded, r.Known, f.moved)
	}
	e = j.Lookup(key("3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj"), "smtp:mx:25")
	if st, _ := e.StateOf("sidorova@students.example.net"); st != journal.Bounced {
		t.Errorf("after the bounce: %s", st)
	}
	// A delay report after a bounce changes nothing.
	early := strings.Replace(string(fixture(t, "postfix-delayed.eml")), "Message-Id: <20261127140003.8A1B2C3D4E@mx.example.org>", "Message-Id: <again@mx.example.org>", 1)
	f.msgs = append(f.msgs, []byte(early))
	if r, _ = Read(context.Background(), j, path, f, Options{Folder: "INBOX"}); len(r.Recorded) != 0 {
		t.Errorf("a delay after the bounce recorded %+v", r.Recorded)
	}
}

// TestReadEdges: a report about two recipients whose reading stopped
// after the first records the second next time; a report about a letter
// of unknown fate makes its other recipient delivered; a report older
// than the letter is about another letter and is not recorded.
func TestReadEdges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var key letter.Key
	key.UnmarshalText([]byte("k5tq2mvxh7ngz3e4rj6wd2fy4pq3ulcs"))
	sentAt := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	letterRec := journal.Record{Time: sentAt, Key: key, Dest: "smtp:mx:25", Line: 2, Rcpt: []string{"Ivanov.Petr@example.com", "ivanov.parent@example.com", "third@example.com"},
		MessageID: "<k5tq2mvxh7ngz3e4rj6wd2fy4pq3ulcs@example.org>", Attempt: 1, State: journal.Unknown}
	j.Commit(letterRec)
	both := strings.Replace(string(fixture(t, "postfix-failed.eml")), "Diagnostic-Code: X-Postfix; unknown user: \"ivanov.petr\"\n",
		"Diagnostic-Code: X-Postfix; unknown user: \"ivanov.petr\"\n\nFinal-Recipient: rfc822; ivanov.parent@example.com\nOriginal-Recipient: rfc822;ivanov.parent@example.com\nAction: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 mailbox full\n", 1)
	// The first recipient was recorded before the reading stopped.
	first := letterRec
	first.Rcpt, first.Part, first.State, first.Enhanced = []string{"Ivanov.Petr@example.com"}, true, journal.Bounced, "5.1.1"
	first.Report = "<20261126100211.4ZxQ1L2m3nz9s@mx.example.org>"
	j.Commit(first)

	old := strings.NewReplacer("Thu, 26 Nov 2026 10:02:11", "Tue, 24 Nov 2026 10:02:11", "<20261126100211.4ZxQ1L2m3nz9s@mx.example.org>", "<old@mx.example.org>").Replace(string(fixture(t, "postfix-failed.eml")))
	f := &folder{msgs: [][]byte{[]byte(both), []byte(old)}}
	r, err := Read(context.Background(), j, path, f, Options{Folder: "INBOX"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Recorded) != 1 || r.Recorded[0].Rcpt != "ivanov.parent@example.com" || r.Recorded[0].Status != "5.2.2" {
		t.Errorf("recorded %+v, want the parent alone", r.Recorded)
	}
	if len(r.Unmatched) != 1 || r.Unmatched[0].MessageID != "<old@mx.example.org>" {
		t.Errorf("unmatched %v, want the old report", r.Unmatched)
	}
	e := j.Lookup(key, "smtp:mx:25")
	for rcpt, want := range map[string]journal.State{"ivanov.petr@example.com": journal.Bounced, "ivanov.parent@example.com": journal.Bounced, "third@example.com": journal.Delivered} {
		if st, _ := e.StateOf(rcpt); st != want {
			t.Errorf("%s: %s, want %s", rcpt, st, want)
		}
	}
	if r, _ := Read(context.Background(), j, path, f, Options{Folder: "INBOX"}); len(r.Recorded) != 0 || r.Known != 1 {
		t.Errorf("read again: recorded %+v, known %d", r.Recorded, r.Known)
	}
}
