package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// key is the key of the test letter called name.
func key(name string) letter.Key { return letter.NewKey("test", []string{name}, 0) }

// rec is a record of the test letter called name; nameOf gives name back.
func rec(name string, state State) Record {
	return Record{Key: key(name), Line: 2, Rcpt: []string{name + "@example.com"}, MessageID: "<" + name + "@example.com>", Attempt: 1, State: state}
}

func nameOf(r Record) string { return strings.TrimSuffix(r.Rcpt[0], "@example.com") }

func TestTornLastLineIsIgnoredAndCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, _ := Open(path)
	j.Commit(rec("a", Delivered))
	j.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-01-01T00:00:00Z","key":"` + key("b").String() + `","sta`)
	f.Close()

	j, err := Open(path)
	if err != nil {
		t.Fatalf("torn last line: %v", err)
	}
	if j.Lookup(key("b"), "").Known {
		t.Error("torn record was read")
	}
	j.Commit(rec("c", Delivered))
	j.Close()
	var keys []string
	if err := Read(path, func(r Record) error { keys = append(keys, nameOf(r)); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a,c" {
		t.Errorf("records after a torn line: %v", keys)
	}
}

func TestCorruptMiddleIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	os.WriteFile(path, []byte(`{"key":"`+key("a").String()+`","state":"delivered"}`+"\nnot json\n"+`{"key":"`+key("b").String()+`","state":"delivered"}`+"\n"), 0o600)
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), "line 2 is not a valid record") {
		t.Errorf("err = %v", err)
	}
}

// TestGroupCommit: concurrent commits share fsyncs, and each is durable
// when Commit returns.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := j.Commit(rec(fmt.Sprintf("w%d-%d", w, i), Delivered)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	syncs := j.Syncs()
	j.Close()
	n := 0
	Read(path, func(Record) error { n++; return nil })
	if n != workers*each {
		t.Errorf("%d records, want %d", n, workers*each)
	}
	if syncs >= workers*each {
		t.Errorf("%d fsyncs for %d commits: no grouping", syncs, workers*each)
	}
	t.Logf("%d commits, %d fsyncs", workers*each, syncs)
}

func TestWriteFailureIsSticky(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := os.Open(path) // writes to it fail
	j.f.Close()
	j.f = ro
	if err := j.Commit(rec("a", Delivered)); err == nil {
		t.Fatal("Commit succeeded on a file that cannot be written")
	}
	if err := j.Append(rec("b", Attempt)); err == nil {
		t.Error("Append after a failed write succeeded")
	}
}

// FuzzOpen: whatever a journal file holds, Open either refuses it or
// replays it and leaves it ending on a whole line, ready for appends.
func FuzzOpen(f *testing.F) {
	a := key("a").String()
	f.Add([]byte(`{"key":"` + a + `","state":"delivered","attempt":1}` + "\n"))
	f.Add([]byte(`{"key":"` + a + `","state":"eod"}` + "\n" + `{"key":"` + a + `","sta`))
	f.Add([]byte(`{"key":"a","state":"delivered"}` + "\n")) // not a key
	f.Add([]byte("not json\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.journal")
		os.WriteFile(path, data, 0o600)
		j, err := Open(path)
		if err != nil {
			return
		}
		if err := j.Commit(rec("new", Delivered)); err != nil {
			t.Fatal(err)
		}
		j.Close()
		j, err = Open(path)
		if err != nil {
			t.Fatalf("a journal Open accepted and appended to is now refused: %v", err)
		}
		defer j.Close()
		if e := j.Lookup(key("new"), ""); !e.Known || e.State != Delivered {
			t.Fatalf("appended record lost: %v %v", e.State, e.Known)
		}
	})
}

func TestDue(t *testing.T) {
	for _, tt := range []struct {
		state         State
		resendUnknown bool
		settled       bool
	}{
		{Delivered, false, true}, {Failed, true, true}, {Unknown, false, true}, {Unknown, true, false},
		{Deferred, false, false}, {Attempt, false, false}, {"", false, false},
	} {
		if got := Due(tt.state, tt.resendUnknown); got == tt.settled {
			t.Errorf("Due(%q, %v) = %v", tt.state, tt.resendUnknown, got)
		}
	}
}

func TestLastAndDeliveredSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// The records carry their own times: the count compares them.
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	yesterday := now.Add(-24 * time.Hour)
	old := rec("a", Delivered)
	old.Time = yesterday
	for _, r := range []Record{old, rec("b", Attempt), rec("b", Delivered), rec("c", Attempt), rec("c", Deferred)} {
		if r.Time.IsZero() {
			r.Time = now
		}
		j.Commit(r)
	}
	j.Close()
	h, err := ReadHistory(path, "")
	if err != nil || len(h.Outcomes) != 3 || h.Outcomes[key("b")].Last.State != Delivered || h.Outcomes[key("c")].Last.State != Deferred {
		t.Errorf("ReadHistory = %v, %v", h, err)
	}
	for since, want := range map[time.Time]int{yesterday: 2, yesterday.Add(time.Hour): 1} {
		if n, err := DeliveredSince(path, since); err != nil || n != want {
			t.Errorf("DeliveredSince(%v) = %d, %v; want %d", since, n, err, want)
		}
	}
}

// TestHistorySent: a letter's Sent is its last record of a send, not the
// delivery report recorded after it, which decides its recipient's state.
func TestHistorySent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	delivered := rec("a", Delivered)
	delivered.Time, delivered.Code, delivered.Text = sent, 250, "2.0.0 Ok: queued as 4F2A"
	bounced := delivered
	bounced.Time, bounced.Part, bounced.State, bounced.Code, bounced.Enhanced, bounced.Text, bounced.Report = sent.Add(time.Hour), true, Bounced, 550, "5.1.1", "550 5.1.1 no such user", "<dsn@mx>"
	for _, r := range []Record{rec("a", Attempt), delivered, bounced} {
		if r.Time.IsZero() {
			r.Time = sent.Add(-time.Second)
		}
		j.Commit(r)
	}
	j.Close()
	h, err := ReadHistory(path, "")
	if err != nil {
		t.Fatal(err)
	}
	o := h.Outcomes[key("a")]
	if o.Last.State != Bounced || !o.Sent.Time.Equal(sent) || o.Sent.State != Delivered || o.Sent.Text != delivered.Text || o.Rcpts["a@example.com"].State != Bounced {
		t.Errorf("outcome %+v", o)
	}
}

// TestOneSMTPDestination: every SMTP server is one destination. A letter
// delivered through the relay written as 127.0.0.1, as localhost, on
// another port or through another relay since (journals before recorded
// "smtp:host:port") is delivered: re-routing never sends it again. A
// Maildir folder stays a destination of its own.
func TestOneSMTPDestination(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, _ := Open(path)
	for _, r := range []Record{
		func() Record { r := rec("a", Delivered); r.Dest = "smtp:127.0.0.1:2525"; return r }(),
		func() Record { r := rec("b", Delivered); r.Dest = "smtp:localhost:587"; return r }(),
		func() Record { r := rec("c", Delivered); r.Dest = SMTP; return r }(),
		func() Record { r := rec("d", Delivered); r.Dest = "maildir:/out"; return r }(),
	} {
		j.Commit(r)
	}
	j.Close()
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, name := range []string{"a", "b", "c"} {
		for _, dest := range []string{SMTP, "smtp:mail.example.org:25"} {
			if e := j.Lookup(key(name), dest); e.State != Delivered {
				t.Errorf("%s at %s: %+v, want delivered", name, dest, e)
			}
		}
	}
	if e := j.Lookup(key("d"), SMTP); e.State != "" || e.Elsewhere != "maildir:/out" {
		t.Errorf("d at smtp: %+v, want delivered elsewhere only", e)
	}
	if h, _ := ReadHistory(path, SMTP); len(h.Outcomes) != 3 {
		t.Errorf("ReadHistory at smtp: %d outcomes, want 3", len(h.Outcomes))
	}
}

func TestFold(t *testing.T) {
	for _, tt := range []struct {
		states []State
		own    []bool
		want   State
	}{
		{[]State{Delivered, Delivered}, []bool{true, true}, Delivered},
		{[]State{Delivered, Failed}, []bool{true, false}, Delivered}, // only the instructor's copy was refused
		{[]State{Failed, Delivered}, []bool{true, false}, Failed},
		{[]State{Failed, Deferred}, []bool{true, true}, Deferred},
		{[]State{Delivered, ""}, []bool{true, true}, Attempt},
		{[]State{EOD, Delivered}, []bool{true, true}, Unknown},
		{[]State{Failed}, []bool{false}, Failed}, // a letter to the template's address alone
	} {
		if got := Fold(tt.states, tt.own); got != tt.want {
			t.Errorf("Fold(%q, %v) = %s, want %s", tt.states, tt.own, got, tt.want)
		}
	}
}

// TestChanged: a letter known by a name (recipients.key) may have other
// recipients than when it was sent.
func TestChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, _ := Open(path)
	defer j.Close()
	r := rec("a", Failed)
	r.Rcpt = []string{"Old@example.com"}
	j.Commit(r)
	e := j.Lookup(key("a"), "")
	if e.Changed([]string{"old@EXAMPLE.com"}) || !e.Changed([]string{"new@example.com"}) || (Entry{}).Changed([]string{"x@example.com"}) {
		t.Error("Changed")
	}
}

func TestSentRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, _ := Open(path)
	withFP := func(name string, fp uint64, dest string, state State) Record {
		r := rec(name, state)
		r.FP, r.Dest = fp, dest
		return r
	}
	test := withFP("t", 4, "smtp:a:25", Delivered)
	test.Test = "me@example.com"
	for _, r := range []Record{
		withFP("a", 1, "smtp:a:25", Delivered),
		withFP("b", 2, "maildir:/x", Delivered), // elsewhere
		withFP("c", 3, "", Delivered),           // older than destinations: everywhere
		test,
		withFP("i", 5, "smtp:a:25", Invalid),
	} {
		j.Commit(r)
	}
	j.Close()
	rows, ok, err := SentRows(path, "smtp:a:25")
	if want := []uint64{1, 3}; err != nil || !ok || !slices.Equal(rows.fps, want) || !rows.Has(3) || rows.Has(2) {
		t.Errorf("SentRows = %v, %v, %v; want %v", rows, ok, err, want)
	}

	j, _ = Open(path)
	j.Commit(rec("old", Delivered)) // no fingerprint: cannot tell
	j.Close()
	if _, ok, _ := SentRows(path, "smtp:a:25"); ok {
		t.Error("a journal with records without fingerprints: ok")
	}
}

// TestSentRowsMatchesRecords: the rows a journal has letters of at a
// destination are the same read from its snapshot (and the records after
// it) as from a plain replay of its records, while a send holds it.
func TestSentRowsMatchesRecords(t *testing.T) {
	defer func(n int64) { snapshotMin = n }(snapshotMin)
	snapshotMin = 0
	path := filepath.Join(t.TempDir(), "m.journal")
	rng := rand.New(rand.NewPCG(5, 6))
	recs := randomRecords(rng, 3000)
	for i := range recs {
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(recs[i].MessageID, "<l"), "@example.com>"))
		recs[i].FP = uint64(1000 + n) // a row of its own
		switch rng.IntN(20) {
		case 0:
			recs[i].State, recs[i].Rejected = Invalid, nil
		case 1:
			recs[i].Test = "me@example.com"
		}
	}
	// What a plain replay says: a letter's rows count at a destination
	// when it has records there (or, failing that, older than
	// destinations) and they do not leave it invalid.
	want := func(recs []Record, dest string) []uint64 {
		type at struct {
			seen  bool
			state State
		}
		states := map[letter.Key]map[string]*at{}
		fps := map[letter.Key]uint64{}
		for _, r := range recs {
			if r.Test != "" {
				continue
			}
			fps[r.Key] = r.FP
			if states[r.Key] == nil {
				states[r.Key] = map[string]*at{}
			}
			a := states[r.Key][r.Dest]
			if a == nil {
				a = &at{}
				states[r.Key][r.Dest] = a
			}
			a.seen = true
			if !r.Part {
				a.state = r.Final()
			}
		}
		var out []uint64
		for k, byDest := range states {
			a := byDest[dest]
			if a == nil {
				a = byDest[""]
			}
			if a != nil && a.state != Invalid {
				out = append(out, fps[k])
			}
		}
		slices.Sort(out)
		return out
	}
	check := func(stage string, recs []Record, snapshot bool) {
		t.Helper()
		f, _ := os.Open(path)
		j, _, err := load(path, f)
		f.Close()
		if err != nil || (j.snapshot > 0) != snapshot {
			t.Fatalf("%s: load: %v; snapshot used: %v, want %v", stage, err, j != nil && j.snapshot > 0, snapshot)
		}
		for _, dest := range []string{"smtp", "maildir:/b", "maildir:/m", "maildir:/elsewhere"} {
			rows, ok, err := SentRows(path, dest)
			if w := want(recs, dest); err != nil || !ok || !slices.Equal(rows.fps, w) {
				t.Errorf("%s, %s: SentRows = %d rows, %v, %v; want %d rows", stage, dest, rows.Len(), ok, err, len(w))
			}
		}
	}
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, j, recs[:2000])
	j.Close()
	check("from the snapshot", recs[:2000], true)

	j, _ = Open(path) // a send holds the journal meanwhile
	defer j.Close()
	appendAll(t, j, recs[2000:])
	if err := j.Commit(recs[len(recs)-1]); err != nil {
		t.Fatal(err)
	}
	check("from the snapshot and the records after it", append(recs, recs[len(recs)-1]), true)

	os.Remove(snapshotPath(path))
	check("from the records alone", append(recs, recs[len(recs)-1]), false)
}

// TestBounceOfOne: a bounce of one recipient of a letter to two leaves the
// other delivered; when the letter's addresses were edited since (a
// letter known by a name), the new address is not taken for the other.
func TestBounceOfOne(t *testing.T) {
	j, _ := Open(filepath.Join(t.TempDir(), "m.journal"))
	defer j.Close()
	r := rec("a", Delivered)
	r.Rcpt = []string{"a@example.com", "b@example.com"}
	j.Commit(r)
	b := r
	b.Rcpt, b.Part, b.State, b.Report = []string{"b@example.com"}, true, Bounced, "<report@mx>"
	j.Commit(b)
	e := j.Lookup(key("a"), "")
	for rcpt, want := range map[string]State{"a@example.com": Delivered, "B@example.com": Bounced} {
		if st, ok := e.For(r.Rcpt).StateOf(rcpt); st != want || !ok {
			t.Errorf("%s: %s, %v; want %s", rcpt, st, ok, want)
		}
	}
	edited := []string{"a@example.com", "c@example.com"}
	if st, ok := e.For(edited).StateOf("c@example.com"); ok {
		t.Errorf("an edited address: %q; want none known, so due", st)
	}
	if st, _ := e.For(edited).StateOf("b@example.com"); st != Bounced {
		t.Errorf("the bounced address: %s", st)
	}
}

// TestWriteReachesTheFileWithoutSync: an outcome is in the file at once
// (a crash of the process keeps it) and made durable by the next Commit.
func TestWriteReachesTheFileWithoutSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, _ := Open(path)
	defer j.Close()
	j.Commit(rec("a", EOD))
	syncs := j.Syncs()
	if err := j.Write(rec("a", Delivered)); err != nil {
		t.Fatal(err)
	}
	var states []State
	Read(path, func(r Record) error { states = append(states, r.State); return nil })
	if !reflect.DeepEqual(states, []State{EOD, Delivered}) || j.Syncs() != syncs {
		t.Errorf("file has %v after Write, %d syncs (before %d)", states, j.Syncs(), syncs)
	}
	j.Commit(rec("b", EOD))
	if j.Syncs() != syncs+1 {
		t.Errorf("%d syncs after the next Commit, want %d", j.Syncs(), syncs+1)
	}
}

// TestWriteDoesNotWaitForSync: an outcome written while another letter's
// eod is being synced goes to the file at once, beside the sync; the
// Write does not wait for it.
func TestWriteDoesNotWaitForSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, _ := Open(path)
	defer j.Close()
	inSync, release := make(chan struct{}), make(chan struct{})
	syncFile = func(f *os.File) error {
		inSync <- struct{}{}
		<-release
		return f.Sync()
	}
	defer func() { syncFile = (*os.File).Sync }()
	committed := make(chan error)
	go func() { committed <- j.Commit(rec("a", EOD)) }()
	<-inSync
	if err := j.Write(rec("b", Delivered)); err != nil { // would hang here if it waited
		t.Fatal(err)
	}
	var before []string
	Read(path, func(r Record) error { before = append(before, nameOf(r)+":"+string(r.State)); return nil })
	close(release)
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	var after []string
	Read(path, func(r Record) error { after = append(after, nameOf(r)+":"+string(r.State)); return nil })
	if want := []string{"a:eod", "b:delivered"}; !reflect.DeepEqual(before, want) {
		t.Errorf("during the sync the file has %v, want %v", before, want)
	}
	if want := []string{"a:eod", "b:delivered"}; !reflect.DeepEqual(after, want) {
		t.Errorf("after the sync the file has %v, want %v", after, want)
	}
}

// TestIndexMatchesRecords: the compact index answers Lookup, Known and
// Letters as a plain replay of the records does, for letters at several
// destinations (records older than destinations among them), with
// recipients refused and attempts to some of the recipients.
func TestIndexMatchesRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := randomRecords(rand.New(rand.NewPCG(1, 2)), 3000)
	appendAll(t, j, recs)
	checkIndex(t, j, recs)
	j.Close()
	reopened, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	checkIndex(t, reopened, recs)
}

// TestSnapshot: a journal reopened from its snapshot, with records added
// after it, has the index a replay of every record gives; a snapshot that
// does not match its journal (torn, or of another journal) is not used.
func TestSnapshot(t *testing.T) {
	defer func(n int64) { snapshotMin = n }(snapshotMin)
	snapshotMin = 0
	dir := t.TempDir()
	path := filepath.Join(dir, "m.journal")
	rng := rand.New(rand.NewPCG(3, 4))
	var recs []Record
	for round := 0; round < 3; round++ {
		j, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if round > 0 && j.snapshot == 0 {
			t.Errorf("round %d: the snapshot was not used", round)
		}
		checkIndex(t, j, recs)
		more := randomRecords(rng, 1000)
		appendAll(t, j, more)
		recs = append(recs, more...)
		j.Close()
	}

	// A record added by a run that crashed (no Close, no new snapshot).
	crashed := randomRecords(rng, 1)[0]
	crashed.Time = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	line, _ := json.Marshal(crashed)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(append(line, '\n'))
	f.Close()
	recs = append(recs, crashed)
	j, _ := Open(path)
	if j.snapshot == 0 {
		t.Error("the snapshot was not used after a crash")
	}
	checkIndex(t, j, recs)
	j.Close()

	// Torn: the snapshot is not used, the journal is replayed.
	data, _ := os.ReadFile(snapshotPath(path))
	os.WriteFile(snapshotPath(path), data[:len(data)-10], 0o600)
	j, _ = Open(path)
	if j.snapshot != 0 {
		t.Error("a torn snapshot was used")
	}
	checkIndex(t, j, recs)
	j.Close() // writes a good one again

	// Another journal under the same name, longer than the snapshot says.
	other := randomRecords(rng, 3000)
	os.Remove(path)
	j, _ = Open(path)
	appendAll(t, j, other)
	j.mu.Lock()
	j.flushLocked()
	j.mu.Unlock()
	j.f.Close() // no Close: the old snapshot stays
	j, _ = Open(path)
	if j.snapshot != 0 {
		t.Error("the snapshot of another journal was used")
	}
	checkIndex(t, j, other)
	j.Close()
}

func randomRecords(rng *rand.Rand, n int) []Record {
	dests := []string{"", "smtp", "maildir:/b", "maildir:/m"}
	statesIn := []State{Attempt, EOD, Delivered, Failed, Deferred, Unknown}
	var recs []Record
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("l%d", rng.IntN(200))
		r := rec(name, statesIn[rng.IntN(len(statesIn))])
		r.Dest = dests[rng.IntN(len(dests))]
		r.Attempt = 1 + rng.IntN(5)
		r.FP = uint64(rng.IntN(3))
		r.Rcpt = []string{name + "@example.com", name + ".b@example.com"}
		switch rng.IntN(6) {
		case 0:
			r.Rejected = []Rejection{{Rcpt: name + ".b@example.com", State: Failed, Code: 550}}
		case 1:
			r.Rcpt, r.Part = r.Rcpt[1:], true
		}
		recs = append(recs, r)
	}
	return recs
}

func appendAll(t *testing.T, j *Journal, recs []Record) {
	t.Helper()
	for _, r := range recs {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
}

// checkIndex compares what j answers of the letters of randomRecords with
// a plain replay of recs.
func checkIndex(t *testing.T, j *Journal, recs []Record) {
	t.Helper()
	want := replayPlainly(recs)
	if got := j.Letters(); got != len(want.last) {
		t.Errorf("Letters() = %d, want %d", got, len(want.last))
	}
	for n := 0; n < 200; n++ {
		key := rec(fmt.Sprintf("l%d", n), Attempt).Key
		fp, ok := j.Known(key)
		if wfp, wok := want.fp[key]; ok != wok || fp != wfp {
			t.Errorf("l%d: Known = %d, %v; want %d, %v", n, fp, ok, wfp, wok)
		}
		for _, d := range []string{"", "smtp", "maildir:/b", "maildir:/m", "maildir:/never"} {
			if got, w := j.Lookup(key, d), want.lookup(key, d); !reflect.DeepEqual(got, w) {
				t.Errorf("l%d at %q: Lookup = %+v, want %+v", n, d, got, w)
			}
		}
	}
}

// plainIndex is the index as maps of everything, the way it was before
// it was made compact: the reference for TestIndexMatchesRecords.
type plainIndex struct {
	last      map[[2]string]status
	delivered map[letter.Key]string
	fp        map[letter.Key]uint64
}

func replayPlainly(recs []Record) plainIndex {
	x := plainIndex{last: map[[2]string]status{}, delivered: map[letter.Key]string{}, fp: map[letter.Key]uint64{}}
	for _, r := range recs {
		if old, ok := x.fp[r.Key]; !ok || r.FP != 0 {
			x.fp[r.Key] = r.FP
		} else {
			x.fp[r.Key] = old
		}
		k := [2]string{r.Key.String(), r.Dest}
		st := x.last[k]
		st.attempt = int32(r.Attempt)
		if !r.Part {
			st.state, st.rcpts, st.rset = r.Final(), nil, recipientSet(r.Rcpt)
			if len(r.Rejected) > 0 {
				st.rcpts = map[string]State{}
			}
		}
		if st.rcpts == nil && r.Part {
			st.rcpts = map[string]State{}
			if st.state != "" {
				st.rcpts[""] = st.state // the recipients the part does not name
			}
		}
		if st.rcpts != nil {
			m := maps.Clone(st.rcpts)
			for _, rcpt := range r.Rcpt {
				m[strings.ToLower(rcpt)] = r.Final()
			}
			for _, rej := range r.Rejected {
				m[strings.ToLower(rej.Rcpt)] = rej.Final()
			}
			st.rcpts = m
		}
		x.last[k] = st
		if r.State == Delivered {
			x.delivered[r.Key] = r.Dest
		}
	}
	return x
}

func (x plainIndex) lookup(key letter.Key, dest string) Entry {
	s, ok := x.last[[2]string{key.String(), dest}]
	if !ok {
		s, ok = x.last[[2]string{key.String(), ""}]
	}
	e := Entry{Known: ok, State: s.state, Attempts: int(s.attempt), Seen: ok, Rcpts: s.rcpts, rset: s.rset}
	if d, delivered := x.delivered[key]; delivered {
		e.Seen = true
		if e.State != Delivered {
			e.Elsewhere = d
		}
	}
	return e
}

// TestGrow: the index keeps every letter when it makes room for more.
func TestGrow(t *testing.T) {
	j, err := Open(filepath.Join(t.TempDir(), "m.journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs := randomRecords(rand.New(rand.NewPCG(5, 6)), 300)
	appendAll(t, j, recs[:100])
	j.Grow(1000)
	appendAll(t, j, recs[100:])
	checkIndex(t, j, recs)
}

// TestSecret: a mailing's secret is made once, readable by its owner
// alone, and read back the same; without create a missing one is nil; a
// damaged one is an error that says what to do.
func TestSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.journal")
	if s, err := Secret(path, false); s != nil || err != nil {
		t.Fatalf("missing: %x, %v", s, err)
	}
	s1, err := Secret(path, true)
	if err != nil || len(s1) != 32 {
		t.Fatalf("made: %x, %v", s1, err)
	}
	fi, err := os.Stat(path + ".secret")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the secret's file: %v, %v", fi, err)
	}
	for _, create := range []bool{false, true} {
		if s2, err := Secret(path, create); err != nil || !bytes.Equal(s1, s2) {
			t.Errorf("read back (create %v): %x, %v", create, s2, err)
		}
	}
	os.WriteFile(path+".secret", []byte("not hex\n"), 0o600)
	if _, err := Secret(path, true); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Errorf("damaged: %v", err)
	}
}
