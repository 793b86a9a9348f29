package pgjournal_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

func key(name string) letter.Key { return letter.NewKey("test", []string{name}, 0) }

func rec(name string, state journal.State) journal.Record {
	return journal.Record{Key: key(name), Dest: "smtp", Line: 2, Rcpt: []string{name + "@example.com"}, MessageID: "<" + name + "@example.com>", Attempt: 1, State: state}
}

func keys(names ...string) []letter.Key {
	var out []letter.Key
	for _, n := range names {
		out = append(out, key(n))
	}
	return out
}

// dbName is the name of the database the URL names.
func dbName(u string) string {
	p, _ := url.Parse(u)
	return path.Base(p.Path)
}

func openShared(t *testing.T, db pgjournal.DB) *pgjournal.Journal {
	t.Helper()
	return openAt(t, db, nil)
}

// openAt opens a send's journal of db, dated by clock; the test closes
// it.
func openAt(t *testing.T, db pgjournal.DB, clock func() time.Time) *pgjournal.Journal {
	t.Helper()
	j, err := db.Open(context.Background(), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func claim(t *testing.T, j *pgjournal.Journal, names ...string) []bool {
	t.Helper()
	got, err := j.Claim(context.Background(), keys(names...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestClaim: two sends of one campaign share its journal; each letter
// is held by one of them at a time; a record of a letter taken over is
// refused (journal.ErrTaken), but for the outcome after an eod; the
// index learns what the other recorded; Close gives the letters back.
func TestClaim(t *testing.T) {
	srv := testpg.Start(t)
	ctx := context.Background()
	u := srv.NewDB(t)
	// A lease of a minute: no renewal runs while the test expires leases
	// by hand.
	db := pgjournal.DB{URL: u, Password: testpg.Password, Campaign: "c", Lease: time.Minute}
	a, b := openShared(t, db), openShared(t, db)

	alone := db
	alone.Alone = true
	if j, err := alone.Open(ctx, nil); !errors.Is(err, journal.ErrLocked) {
		if err == nil {
			j.Close()
		}
		t.Errorf("Open alone while sends share the campaign: %v, want ErrLocked", err)
	}

	if got := claim(t, a, "1", "2", "3", "4"); fmt.Sprint(got) != "[true true true true]" {
		t.Errorf("a claims 1-4: %v", got)
	}
	if got := claim(t, b, "3", "4", "5", "6"); fmt.Sprint(got) != "[false false true true]" {
		t.Errorf("b claims 3-6: %v", got)
	}
	if got := claim(t, a, "1", "5"); fmt.Sprint(got) != "[true false]" {
		t.Errorf("a claims 1 again and 5: %v", got)
	}

	// a sends 1; b, asking for it, learns it is delivered.
	if err := a.Append(rec("1", journal.Attempt)); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(rec("1", journal.EOD)); err != nil {
		t.Fatalf("eod of a letter held: %v", err)
	}
	if err := a.Write(rec("1", journal.Delivered)); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, b, "1"); got[0] {
		t.Error("b took 1 from a, which holds it")
	}
	if e := b.Lookup(key("1"), "smtp"); e.State != journal.Delivered {
		t.Errorf("b's index has 1 %q, want delivered", e.State)
	}

	// a's lease of 2 runs out and b takes it over: a's eod is refused.
	if err := srv.Exec(ctx, dbName(u), "UPDATE mailmerge.leases SET expires = now() - interval '1 second' WHERE letter = $1", key("2").String()); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, b, "2"); !got[0] {
		t.Fatal("b did not take over 2, whose lease ran out")
	}
	a.Append(rec("2", journal.Attempt))
	if err := a.Commit(rec("2", journal.EOD)); !errors.Is(err, journal.ErrTaken) {
		t.Errorf("a's eod of a letter b took over: %v, want ErrTaken", err)
	}
	// a, after its eod of 3, loses it: its outcome is written still, and
	// b, taking 3 over, has it of unknown fate, not due.
	a.Append(rec("3", journal.Attempt))
	if err := a.Commit(rec("3", journal.EOD)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, dbName(u), "UPDATE mailmerge.leases SET expires = now() - interval '1 second' WHERE letter = $1", key("3").String()); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, b, "3"); !got[0] {
		t.Fatal("b did not take over 3")
	}
	l3 := &letter.Letter{Key: key("3"), Recipients: []string{"3@example.com"}}
	if _, due := b.Due(l3, "smtp", false); len(due) != 0 {
		t.Errorf("3, with an eod and no outcome, is due at b: %v", due)
	}
	if err := a.Write(rec("3", journal.Delivered)); err != nil {
		t.Errorf("a's outcome after its eod: %v", err)
	}

	// a ends: its letters are anybody's at once.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, b, "4"); !got[0] {
		t.Error("b did not get 4 after a closed")
	}

	states := map[string][]journal.State{}
	if err := db.Records(ctx)(func(r journal.Record) error {
		states[r.Rcpt[0]] = append(states[r.Rcpt[0]], r.State)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1@example.com": "[attempt eod delivered]", "3@example.com": "[attempt eod delivered]"}
	for rcpt, w := range want {
		if got := fmt.Sprint(states[rcpt]); got != w {
			t.Errorf("records of %s: %s, want %s", rcpt, got, w)
		}
	}
	if got := states["2@example.com"]; len(got) != 0 {
		t.Errorf("records of 2, taken over from a: %v, want none", got)
	}
}

// TestClaimRace: three sends of one campaign claim overlapping letters
// at once, in random orders, and send what they hold: every letter has
// exactly one eod in the records, whatever the interleaving (seed
// logged). Leases a third of a second long are renewed meanwhile.
func TestClaimRace(t *testing.T) {
	srv := testpg.Start(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	db := pgjournal.DB{URL: srv.NewDB(t), Password: testpg.Password, Campaign: "race", Lease: time.Second}
	const n = 300
	var wg sync.WaitGroup
	for p := range 3 {
		j := openShared(t, db)
		rng := rand.New(rand.NewPCG(seed, uint64(p)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				var names []string
				start := rng.IntN(n)
				for i := range 20 {
					names = append(names, fmt.Sprint((start+i)%n))
				}
				held, err := j.Claim(context.Background(), keys(names...), nil)
				if err != nil {
					t.Error(err)
					return
				}
				for i, name := range names {
					l := &letter.Letter{Key: key(name), Recipients: []string{name + "@example.com"}}
					if _, due := j.Due(l, "smtp", false); !held[i] || len(due) == 0 {
						continue
					}
					j.Append(rec(name, journal.Attempt))
					if err := j.Commit(rec(name, journal.EOD)); err != nil {
						t.Errorf("eod of %s: %v", name, err)
						continue
					}
					j.Write(rec(name, journal.Delivered))
				}
			}
		}()
	}
	wg.Wait()
	eods := map[string]int{}
	if err := db.Records(context.Background())(func(r journal.Record) error {
		if r.State == journal.EOD {
			eods[r.Rcpt[0]]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(eods) == 0 {
		t.Fatal("no letter was sent: the test proves nothing")
	}
	for rcpt, k := range eods {
		if k != 1 {
			t.Errorf("%s has %d eods", rcpt, k)
		}
	}
	t.Logf("%d letters sent", len(eods))
}

// TestAllowance: sends of one campaign share an account's daily limit:
// what one takes the other cannot; what one gives back the other can
// take; room taken before the first grant counts; a grant leaves the
// window after its period, by the send's clock.
func TestAllowance(t *testing.T) {
	srv := testpg.Start(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db := pgjournal.DB{URL: srv.NewDB(t), Password: testpg.Password, Campaign: "quota"}
	ja, jb := openAt(t, db, clock), openAt(t, db, clock)
	before := []pgjournal.Spent{{At: now.Add(-23 * time.Hour), N: 2}}
	a := ja.Allowance("yandex", 10, 24*time.Hour, false, before)
	b := jb.Allowance("yandex", 10, 24*time.Hour, false, before)
	other := jb.Allowance("gmail", 3, 24*time.Hour, false, nil)
	take := func(al *pgjournal.Allowance, n, want int) {
		t.Helper()
		got, err := al.Take(ctx, n)
		if err != nil || got != want {
			t.Errorf("Take(%d) = %d, %v; want %d", n, got, err, want)
		}
	}
	take(a, 5, 5) // 2 before, 5 now
	take(b, 5, 3) // the rest
	take(b, 1, 0)
	take(other, 5, 3) // another account's limit is its own
	if err := a.Give(ctx, 2); err != nil {
		t.Fatal(err)
	}
	take(b, 5, 2)
	now = now.Add(time.Hour) // the 2 before leave the window
	take(a, 5, 2)
	now = now.Add(24 * time.Hour) // and so does everything
	take(b, 20, 10)
}

// TestPace: sends of one campaign share an account's rate: n letters in
// any period of per among them, apart from its daily limit; a Wait with
// no room waits until its context ends.
func TestPace(t *testing.T) {
	srv := testpg.Start(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db := pgjournal.DB{URL: srv.NewDB(t), Password: testpg.Password, Campaign: "pace"}
	ja, jb := openAt(t, db, clock), openAt(t, db, clock)
	a, b := ja.Pace("m365", 3, time.Minute), jb.Pace("m365", 3, time.Minute)
	daily := ja.Allowance("m365", 10, 24*time.Hour, false, nil)
	var got []bool
	for _, p := range []*pgjournal.Pace{a, b, a, b, a} {
		got = append(got, p.Allow())
	}
	if fmt.Sprint(got) != "[true true true false false]" {
		t.Errorf("five letters of two sends at 3 a minute: %v", got)
	}
	if n, err := daily.Take(ctx, 10); n != 10 || err != nil {
		t.Errorf("the daily limit, apart from the rate: %d, %v", n, err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := b.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with the rate spent: %v, want the deadline", err)
	}
	now = now.Add(time.Minute)
	if err := b.Wait(ctx); err != nil {
		t.Errorf("Wait a minute later: %v", err)
	}
}

// TestMigrateFromSchema1: a database a mailmerge of schema 1 wrote is
// brought to schema 2 on first use, and says so: its records keep their
// order and are found by letter, and new ones come after them.
func TestMigrateFromSchema1(t *testing.T) {
	srv := testpg.Start(t)
	ctx := context.Background()
	u := srv.NewDB(t)
	init, err := os.ReadFile("migrations/001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"CREATE SCHEMA mailmerge",
		"CREATE TABLE mailmerge.schema_version (version int PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())",
		string(init),
		"INSERT INTO mailmerge.schema_version (version) VALUES (1)",
		"INSERT INTO mailmerge.campaigns (name) VALUES ('old')",
	} {
		if err := srv.Exec(ctx, dbName(u), sql); err != nil {
			t.Fatal(err)
		}
	}
	for i, st := range []journal.State{journal.Attempt, journal.EOD, journal.Delivered} {
		r := rec("a", st)
		r.Time = time.Date(2026, 12, 1, 9, 0, i, 0, time.UTC)
		if err := srv.Exec(ctx, dbName(u), "INSERT INTO mailmerge.records (campaign, seq, rec) VALUES (1, $1, $2::jsonb)", i+1, string(journal.Encode(nil, r))); err != nil {
			t.Fatal(err)
		}
	}
	var said []string
	db := pgjournal.DB{URL: u, Password: testpg.Password, Campaign: "old", Notify: func(m string) { said = append(said, m) }}
	j := openShared(t, db)
	if want := fmt.Sprintf("updated the mailmerge tables in 127.0.0.1:%d/%s from schema 1 to %d", srv.Port, dbName(u), pgjournal.Schema); len(said) != 1 || said[0] != want {
		t.Errorf("said %q, want %q", said, want)
	}
	other := openShared(t, pgjournal.DB{URL: u, Password: testpg.Password, Campaign: "old"})
	claim(t, other, "a") // reads a's records by letter
	if e := other.Lookup(key("a"), "smtp"); e.State != journal.Delivered {
		t.Errorf("a after the migration, read by letter: %q, want delivered", e.State)
	}
	if err := j.Commit(rec("b", journal.Attempt)); err != nil {
		t.Fatal(err)
	}
	var order []string
	if err := db.Records(ctx)(func(r journal.Record) error {
		order = append(order, r.Rcpt[0]+" "+string(r.State))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(order); got != "[a@example.com attempt a@example.com eod a@example.com delivered b@example.com attempt]" {
		t.Errorf("records after the migration: %s", got)
	}
}

// TestDeadProcess: a send on this machine that was killed gives its
// letters back to the next send at once, not a lease later: its process
// runs no more. The killed send is this test's binary run again
// (MM_TEST_CLAIM_AND_WAIT), which claims three letters and waits.
func TestDeadProcess(t *testing.T) {
	if url := os.Getenv("MM_TEST_CLAIM_AND_WAIT"); url != "" {
		j, err := pgjournal.DB{URL: url, Password: testpg.Password, Campaign: "dead", Lease: time.Hour}.Open(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := j.Claim(context.Background(), keys("1", "2", "3"), nil); err != nil {
			t.Fatal(err)
		}
		fmt.Println("claimed")
		select {}
	}
	srv := testpg.Start(t)
	u := srv.NewDB(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeadProcess$")
	cmd.Env = append(os.Environ(), "MM_TEST_CLAIM_AND_WAIT="+u)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "claimed\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the send to kill said %q", line)
	}
	db := pgjournal.DB{URL: u, Password: testpg.Password, Campaign: "dead", Lease: time.Hour}
	alive := openShared(t, db)
	if got := claim(t, alive, "1", "2"); fmt.Sprint(got) != "[false false]" {
		t.Errorf("letters a running send holds: %v, want none", got)
	}
	cmd.Process.Kill()
	cmd.Wait()
	next := openShared(t, db)
	if got := claim(t, next, "1", "2", "3"); fmt.Sprint(got) != "[true true true]" {
		t.Errorf("letters a killed send held, an hour's lease: %v, want all at once", got)
	}
}

// TestCopyNeedsLease: a copy in the Sent folder is recorded only by the
// send that holds its letter: one whose lease another took over is
// refused (journal.ErrTaken), as an eod is.
func TestCopyNeedsLease(t *testing.T) {
	srv := testpg.Start(t)
	u := srv.NewDB(t)
	db := pgjournal.DB{URL: u, Password: testpg.Password, Campaign: "copy", Lease: time.Minute}
	a, b := openShared(t, db), openShared(t, db)
	copying := rec("1", journal.Copying)
	copying.Copy = "Sent"
	claim(t, a, "1")
	if err := a.Commit(copying); err != nil {
		t.Fatalf("copying record of a letter held: %v", err)
	}
	if err := srv.Exec(context.Background(), dbName(u), "UPDATE mailmerge.leases SET expires = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, b, "1"); !got[0] {
		t.Fatal("b did not take over 1")
	}
	copied := copying
	copied.State = journal.Copied
	if err := a.Commit(copied); !errors.Is(err, journal.ErrTaken) {
		t.Errorf("a's copied record after b took the letter over: %v, want ErrTaken", err)
	}
	if err := b.Commit(copied); err != nil {
		t.Errorf("b's copied record: %v", err)
	}
}
