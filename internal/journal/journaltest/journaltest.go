// Package journaltest is the test suite every journal passes: a file
// (journal.Journal) and PostgreSQL (pgjournal.Journal) answer alike to
// the same records. Run runs it on one implementation; a package that
// has both runs it on each, as a table.
package journaltest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// Journal is an open journal, as a send uses it.
type Journal interface {
	Append(journal.Record) error
	Write(journal.Record) error
	Commit(journal.Record) error
	Lookup(key letter.Key, dest string) journal.Entry
	Due(l *letter.Letter, dest string, resendUnknown bool) (journal.Entry, []string)
	Known(key letter.Key) (uint64, bool)
	HasRow(fp uint64) (has, ok bool)
	Letters() int
	Settled(dest string, made uint64, resendUnknown bool) *journal.Settled
	Grow(n int)
	RecordInvalid(key letter.Key, dest string, line int, fp uint64, problem string) error
	Close() error
}

// Store is where one journal is kept: a file, or a campaign in a
// database.
type Store interface {
	// Open opens the journal, locked, dating records without a time by
	// now (nil for time.Now).
	Open(now func() time.Time) (Journal, error)
	// Records reads its records without the lock.
	Records() journal.Records
	// Secret is the campaign's secret after the first Open.
	Secret() ([]byte, error)
}

// Impl is an implementation of the journal under test.
type Impl struct {
	Name string
	// New returns a new, empty store for t.
	New func(t *testing.T) Store
}

// File is the journal file's implementation.
func File() Impl {
	return Impl{Name: "file", New: func(t *testing.T) Store { return fileStore(filepath.Join(t.TempDir(), "m.journal")) }}
}

type fileStore string

func (f fileStore) Open(now func() time.Time) (Journal, error) {
	j, err := journal.Open(string(f))
	if err != nil {
		return nil, err
	}
	j.Now = now
	if _, err := journal.Secret(string(f), true); err != nil {
		j.Close()
		return nil, err
	}
	return j, nil
}

func (f fileStore) Records() journal.Records { return journal.File(string(f)) }

func (f fileStore) Secret() ([]byte, error) { return journal.Secret(string(f), false) }

// Run runs every case of the suite on impl.
func Run(t *testing.T, impl Impl) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, impl.New(t)) })
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, s Store)
}{
	{"Replay", testReplay},
	{"Lock", testLock},
	{"Clock", testClock},
	{"Destinations", testDestinations},
	{"Recipients", testRecipients},
	{"DeliveriesSince", testDeliveriesSince},
	{"IndexAfterReopen", testIndexAfterReopen},
	{"CommitIsDurable", testCommitIsDurable},
	{"WriteIsWritten", testWriteIsWritten},
	{"Secret", testSecret},
}

// key is the key of the test letter called name.
func key(name string) letter.Key { return letter.NewKey("test", []string{name}, 0) }

// rec is a record of the test letter called name.
func rec(name string, state journal.State) journal.Record {
	return journal.Record{Key: key(name), Line: 2, Rcpt: []string{name + "@example.com"}, MessageID: "<" + name + "@example.com>", Attempt: 1, State: state}
}

func open(t *testing.T, s Store) Journal {
	t.Helper()
	j, err := s.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func commitAll(t *testing.T, j Journal, recs ...journal.Record) {
	t.Helper()
	for _, r := range recs {
		if err := j.Commit(r); err != nil {
			t.Fatal(err)
		}
	}
}

func closeJ(t *testing.T, j Journal) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// testReplay: a reopened journal knows each letter's final state, eod
// without an outcome being unknown.
func testReplay(t *testing.T, s Store) {
	j := open(t, s)
	commitAll(t, j,
		rec("a", journal.Attempt), rec("a", journal.EOD), rec("a", journal.Delivered),
		rec("b", journal.Attempt), rec("b", journal.EOD),
		rec("c", journal.Attempt),
		rec("d", journal.Attempt), rec("d", journal.Deferred),
		rec("e", journal.Attempt), rec("e", journal.EOD), rec("e", journal.Failed),
	)
	closeJ(t, j)
	j = open(t, s)
	defer j.Close()
	want := map[string]journal.State{"a": journal.Delivered, "b": journal.Unknown, "c": journal.Attempt, "d": journal.Deferred, "e": journal.Failed}
	for name, state := range want {
		if e := j.Lookup(key(name), ""); !e.Known || e.State != state || e.Attempts != 1 {
			t.Errorf("%s: state %q after %d attempts, want %q after 1", name, e.State, e.Attempts, state)
		}
	}
	if j.Lookup(key("z"), "").Known {
		t.Error("a letter never sent has a record")
	}
	if n := j.Letters(); n != 5 {
		t.Errorf("Letters() = %d, want 5", n)
	}
}

// testLock: a second Open of the same journal is refused while the first
// holds it, and works once it is closed.
func testLock(t *testing.T, s Store) {
	j := open(t, s)
	if j2, err := s.Open(nil); !errors.Is(err, journal.ErrLocked) {
		if err == nil {
			j2.Close()
		}
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	closeJ(t, j)
	closeJ(t, open(t, s))
}

// testClock: records without a time are dated by the journal's clock, in
// UTC; a record's own time stands.
func testClock(t *testing.T, s Store) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.FixedZone("MSK", 3*60*60))
	j, err := s.Open(func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	own := rec("b", journal.Delivered)
	own.Time = now.Add(-time.Hour)
	commitAll(t, j, rec("a", journal.Delivered), own)
	closeJ(t, j)
	var got []time.Time
	if err := s.Records()(func(r journal.Record) error { got = append(got, r.Time); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(now) || got[0].Location() != time.UTC || !got[1].Equal(now.Add(-time.Hour)) {
		t.Errorf("times %v, want %v (UTC) and an hour before", got, now)
	}
}

// testDestinations: a letter delivered to one destination is not
// delivered to another; records older than destinations count for every
// one; test sends settle nothing.
func testDestinations(t *testing.T, s Store) {
	j := open(t, s)
	at := func(name string, state journal.State, dest, test string) journal.Record {
		r := rec(name, state)
		r.Dest, r.Test = dest, test
		return r
	}
	commitAll(t, j,
		at("a", journal.Delivered, "maildir:/out", ""),
		at("b", journal.Delivered, "", ""), // an older journal's record
		at("c", journal.Delivered, "smtp:mx:587", "me@example.com"),
		at("d", journal.Failed, "smtp:mx:587", ""),
	)
	closeJ(t, j)
	j = open(t, s)
	defer j.Close()
	for _, tt := range []struct {
		name, dest string
		want       journal.Entry
	}{
		{"a", "maildir:/out", journal.Entry{Known: true, State: journal.Delivered, Attempts: 1, Seen: true}},
		{"a", "smtp:mx:587", journal.Entry{Seen: true, Elsewhere: "maildir:/out"}},
		{"b", "smtp:mx:587", journal.Entry{Known: true, State: journal.Delivered, Attempts: 1, Seen: true}},
		{"c", "smtp:mx:587", journal.Entry{}},
		{"d", "smtp:mx:587", journal.Entry{Known: true, State: journal.Failed, Attempts: 1, Seen: true}},
		{"d", "maildir:/out", journal.Entry{}},
	} {
		got := j.Lookup(key(tt.name), tt.dest)
		if got.Known != tt.want.Known || got.State != tt.want.State || got.Attempts != tt.want.Attempts || got.Seen != tt.want.Seen || got.Elsewhere != tt.want.Elsewhere || got.Rcpts != nil {
			t.Errorf("%s at %s: %+v, want %+v", tt.name, tt.dest, got, tt.want)
		}
	}
	if n := j.Letters(); n != 3 {
		t.Errorf("Letters() = %d, want 3 (the test send is not one)", n)
	}
	h, err := journal.HistoryOf(s.Records(), "smtp:mx:587")
	if err != nil || len(h.Outcomes) != 2 || h.Outcomes[key("b")].Last.State != journal.Delivered || h.Outcomes[key("d")].Last.State != journal.Failed || len(h.Letters) != 3 {
		t.Errorf("HistoryOf at smtp:mx:587 = %v, %v; want b (older than destinations) and d; letters a, b, d", h, err)
	}
}

// testRecipients: each recipient keeps its own state: a refusal is never
// hidden by another recipient's delivery, and an attempt to some of a
// letter's recipients leaves the others' states as they were.
func testRecipients(t *testing.T, s Store) {
	j := open(t, s)
	r := rec("a", journal.Delivered)
	r.Rcpt = []string{"Ann@example.com", "fail@example.com", "later@example.com", "teacher@example.com"}
	r.Rejected = []journal.Rejection{{Rcpt: "fail@example.com", State: journal.Failed, Code: 550}, {Rcpt: "later@example.com", State: journal.Deferred, Code: 451}}
	commitAll(t, j, r)
	closeJ(t, j)

	j = open(t, s)
	e := j.Lookup(key("a"), "")
	for rcpt, want := range map[string]journal.State{"ann@EXAMPLE.com": journal.Delivered, "fail@example.com": journal.Failed, "later@example.com": journal.Deferred, "teacher@example.com": journal.Delivered} {
		if got, known := e.StateOf(rcpt); !known || got != want {
			t.Errorf("%s: %s, want %s", rcpt, got, want)
		}
	}
	l := &letter.Letter{Key: key("a"), Recipients: r.Rcpt}
	if _, due := j.Due(l, "", false); !slices.Equal(due, []string{"later@example.com"}) {
		t.Errorf("due %v, want the deferred recipient alone", due)
	}
	// The retry to the deferred recipient alone.
	retry := rec("a", journal.EOD)
	retry.Rcpt, retry.Part, retry.Attempt = []string{"later@example.com"}, true, 2
	commitAll(t, j, retry)
	retry.State = journal.Delivered
	if err := j.Write(retry); err != nil {
		t.Fatal(err)
	}
	closeJ(t, j)

	j = open(t, s)
	defer j.Close()
	e = j.Lookup(key("a"), "")
	for rcpt, want := range map[string]journal.State{"ann@example.com": journal.Delivered, "fail@example.com": journal.Failed, "later@example.com": journal.Delivered} {
		if got, _ := e.StateOf(rcpt); got != want {
			t.Errorf("after the retry, %s: %s, want %s", rcpt, got, want)
		}
	}
	if e.Attempts != 2 {
		t.Errorf("attempts %d", e.Attempts)
	}
	h, _ := journal.HistoryOf(s.Records(), "")
	if o := h.Outcomes[key("a")]; o.Rcpts["fail@example.com"].Code != 550 || o.Rcpts["fail@example.com"].Phase != "RCPT" || o.Rcpts["later@example.com"].State != journal.Delivered || o.Rcpts["ann@example.com"].State != journal.Delivered {
		t.Errorf("outcomes %+v", o.Rcpts)
	}
}

// testDeliveriesSince: the deliveries at a destination since a time,
// oldest first, each with its envelope recipients; other destinations'
// are not counted.
func testDeliveriesSince(t *testing.T, s Store) {
	j := open(t, s)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	at := func(r journal.Record, d time.Duration, dest string, rcpt ...string) journal.Record {
		r.Time, r.Dest, r.Rcpt = now.Add(d), dest, rcpt
		return r
	}
	c := at(rec("c", journal.Delivered), -2*time.Hour, "", "c@x")
	c.Account = "ya"
	commitAll(t, j,
		at(rec("a", journal.Delivered), -25*time.Hour, "smtp:mx:587", "a@x"),
		at(rec("b", journal.Delivered), -time.Hour, "smtp:mx:587", "b@x", "cc@x", "bcc@x"),
		c,
		at(rec("d", journal.Delivered), -time.Hour, "maildir:/out", "d@x"),
		at(rec("e", journal.Deferred), -time.Hour, "smtp:mx:587", "e@x"),
	)
	closeJ(t, j)
	got, err := journal.DeliveriesIn(s.Records(), "smtp:other:25", now.Add(-24*time.Hour))
	want := []journal.Delivery{{Time: now.Add(-2 * time.Hour), Rcpts: 1, Account: "ya"}, {Time: now.Add(-time.Hour), Rcpts: 3}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("DeliveriesIn = %v, %v; want %v", got, err, want)
	}
}

// randomRecords are n records of 200 letters at four destinations, some
// with recipients refused, some to some recipients.
func randomRecords(rng *rand.Rand, n int) []journal.Record {
	dests := []string{"", "smtp", "maildir:/b", "maildir:/m"}
	statesIn := []journal.State{journal.Attempt, journal.EOD, journal.Delivered, journal.Failed, journal.Deferred, journal.Unknown}
	var recs []journal.Record
	for range n {
		name := fmt.Sprintf("l%d", rng.IntN(200))
		r := rec(name, statesIn[rng.IntN(len(statesIn))])
		r.Dest = dests[rng.IntN(len(dests))]
		r.Attempt = 1 + rng.IntN(5)
		r.FP = uint64(rng.IntN(3))
		r.Rcpt = []string{name + "@example.com", name + ".b@example.com"}
		switch rng.IntN(6) {
		case 0:
			r.Rejected = []journal.Rejection{{Rcpt: name + ".b@example.com", State: journal.Failed, Code: 550}}
		case 1:
			r.Rcpt, r.Part = r.Rcpt[1:], true
		}
		recs = append(recs, r)
	}
	return recs
}

// testIndexAfterReopen: a journal reopened answers of every letter at
// every destination what an index fed the same records answers: the
// records come back whole and in order.
func testIndexAfterReopen(t *testing.T, s Store) {
	recs := randomRecords(rand.New(rand.NewPCG(1, 2)), 3000)
	want := journal.NewIndex(0)
	j := open(t, s)
	for i, r := range recs {
		r.Time = time.Date(2026, 12, 7, 10, 0, i, 0, time.UTC)
		want.Add(r)
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	check := func(j Journal, when string) {
		if got, w := j.Letters(), want.Letters(); got != w {
			t.Errorf("%s: Letters() = %d, want %d", when, got, w)
		}
		for n := range 200 {
			k := key(fmt.Sprintf("l%d", n))
			fp, ok := j.Known(k)
			if wfp, wok := want.Known(k); ok != wok || fp != wfp {
				t.Errorf("%s: l%d: Known = %d, %v; want %d, %v", when, n, fp, ok, wfp, wok)
			}
			for _, d := range []string{"", "smtp", "maildir:/b", "maildir:/m", "maildir:/never"} {
				if got, w := j.Lookup(k, d), want.Lookup(k, d); !reflect.DeepEqual(got, w) {
					t.Errorf("%s: l%d at %q: Lookup = %+v, want %+v", when, n, d, got, w)
				}
			}
		}
	}
	check(j, "open")
	closeJ(t, j)
	j = open(t, s)
	defer j.Close()
	check(j, "reopened")
	n := 0
	s.Records()(func(journal.Record) error { n++; return nil })
	if n != len(recs) {
		t.Errorf("%d records read, want %d", n, len(recs))
	}
}

// testCommitIsDurable: records committed by many goroutines at once are
// each in the journal when Commit returns, with what was appended before.
func testCommitIsDurable(t *testing.T, s Store) {
	j := open(t, s)
	defer j.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				name := fmt.Sprintf("g%d-%d", g, i)
				if err := j.Append(rec(name, journal.Attempt)); err != nil {
					errs <- err
					return
				}
				if err := j.Commit(rec(name, journal.EOD)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	s.Records()(func(r journal.Record) error {
		seen[strings.TrimSuffix(r.Rcpt[0], "@example.com")+" "+string(r.State)] = true
		return nil
	})
	if len(seen) != 400 {
		t.Errorf("%d records read after the commits, want 400", len(seen))
	}
}

// testWriteIsWritten: an outcome is in the journal when Write returns,
// for a reader (another process) to see, before any Commit.
func testWriteIsWritten(t *testing.T, s Store) {
	j := open(t, s)
	defer j.Close()
	commitAll(t, j, rec("a", journal.EOD))
	if err := j.Write(rec("a", journal.Delivered)); err != nil {
		t.Fatal(err)
	}
	h, err := journal.HistoryOf(s.Records(), "")
	if err != nil || h.Outcomes[key("a")] == nil || h.Outcomes[key("a")].Last.State != journal.Delivered {
		t.Errorf("after Write, the journal read says %+v, %v; want delivered", h, err)
	}
}

// testSecret: the campaign's secret is made once, at the first open, and
// kept.
func testSecret(t *testing.T, s Store) {
	if b, err := s.Secret(); err != nil || b != nil {
		t.Errorf("secret before any send: %x, %v; want none", b, err)
	}
	closeJ(t, open(t, s))
	first, err := s.Secret()
	if err != nil || len(first) != 32 {
		t.Fatalf("secret %x, %v; want 32 bytes", first, err)
	}
	closeJ(t, open(t, s))
	if again, _ := s.Secret(); !slices.Equal(first, again) {
		t.Errorf("the secret changed: %x, then %x", first, again)
	}
}
