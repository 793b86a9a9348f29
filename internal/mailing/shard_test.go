package mailing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// idServer is an SMTP server that accepts every letter and counts each
// Message-ID it sees.
type idServer struct {
	mu   sync.Mutex
	seen map[string]int
}

var messageIDLine = regexp.MustCompile(`(?m)^Message-ID: (<[^>]+>)\r$`)

func (b *idServer) NewSession(*smtp.Conn) (smtp.Session, error) { return b, nil }
func (b *idServer) Mail(string, *smtp.MailOptions) error        { return nil }
func (b *idServer) Rcpt(string, *smtp.RcptOptions) error        { return nil }
func (b *idServer) Reset()                                      {}
func (b *idServer) Logout() error                               { return nil }
func (b *idServer) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := messageIDLine.FindSubmatch(data)
	if m == nil {
		return errors.New("no Message-ID")
	}
	b.mu.Lock()
	b.seen[string(m[1])]++
	b.mu.Unlock()
	return nil
}

// countingServer starts an idServer on loopback and returns its port.
func countingServer(t *testing.T) (int, *idServer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := &idServer{seen: map[string]int{}}
	s := smtp.NewServer(be)
	s.Domain = "mx.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().(*net.TCPAddr).Port, be
}

// journalKeys reads the letters a journal has records of, by key, with
// their last state.
func journalKeys(t *testing.T, path string) map[letter.Key]journal.State {
	t.Helper()
	keys := map[letter.Key]journal.State{}
	if err := journal.Read(path, func(r journal.Record) error { keys[r.Key] = r.Final(); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestShardsAtOnce: shards 1/2 and 2/2 of a mailing sent at once, to one
// server: each letter reaches it once, from one shard, with the
// Message-ID the mailing unsplit gives it (the shards share its secret);
// each shard's journal has its letters alone; report reads them together.
func TestShardsAtOnce(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the registry of mailings
	const n = 40
	port, be := countingServer(t)
	cfg := mailing(t, people(n), fmt.Sprintf("smtp:\n  host: 127.0.0.1\n  port: %d\n  security: none\nsend:\n  concurrency: 2\n", port))
	notes := make([]strings.Builder, 2)
	results := make([]*SendResult, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			res, err := Send(context.Background(), cfg, SendOptions{Shard: campaign.Shard{K: i + 1, N: 2}, Notes: &notes[i]})
			if err != nil {
				t.Errorf("shard %d/2: %v\n%s", i+1, err, notes[i].String())
			}
			results[i] = res
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Every letter once, under the Message-ID the mailing unsplit gives it.
	secret, err := journal.Secret(cfg.Send.Journal, false)
	if err != nil || secret == nil {
		t.Fatalf("the mailing's secret: %x, %v", secret, err)
	}
	want := map[string]int{}
	_, err = campaign.New(cfg, campaign.Options{Secret: secret}).Letters(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		want[l.MessageID] = 1
		return nil
	})
	if err != nil || len(want) != n {
		t.Fatalf("the mailing unsplit: %d letters, %v", len(want), err)
	}
	be.mu.Lock()
	seen := maps.Clone(be.seen)
	be.mu.Unlock()
	if !maps.Equal(seen, want) {
		t.Errorf("the server saw %d Message-IDs (%v), want each of the mailing's %d once", len(seen), seen, n)
	}
	for _, name := range []string{cfg.Send.Journal, ShardJournal(cfg.Send.Journal, campaign.Shard{K: 1, N: 2}) + ".secret"} {
		if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is there: %v", filepath.Base(name), err)
		}
	}

	// Each shard's journal has its own letters, all delivered.
	union := map[letter.Key]bool{}
	for i := range 2 {
		path := ShardJournal(cfg.Send.Journal, campaign.Shard{K: i + 1, N: 2})
		keys := journalKeys(t, path)
		if len(keys) == 0 || len(keys) == n {
			t.Errorf("%s has %d letters: a split of %d in two", filepath.Base(path), len(keys), n)
		}
		for k, st := range keys {
			if union[k] {
				t.Errorf("letter %s in both shards", k)
			}
			union[k] = true
			if st != journal.Delivered {
				t.Errorf("letter %s: %s", k, st)
			}
		}
		st := results[i].Stats
		if st.Delivered != len(keys) || results[i].Letters != len(keys) {
			t.Errorf("shard %d/2 delivered %d of %d letters; its journal has %d", i+1, st.Delivered, results[i].Letters, len(keys))
		}
		if line := fmt.Sprintf("shard %d/2: %s of the mailing's %d; %d belong", i+1, Plural(len(keys), "letter"), n, n-len(keys)); !strings.Contains(notes[i].String(), line) {
			t.Errorf("shard %d/2 says:\n%s\nwant %q", i+1, notes[i].String(), line)
		}
	}
	if len(union) != n {
		t.Errorf("the shards' journals have %d letters, want %d", len(union), n)
	}

	// report merges them: by itself, and as told.
	first := ShardJournal(cfg.Send.Journal, campaign.Shard{K: 1, N: 2})
	for _, tt := range []struct {
		journals  []string
		delivered int
		says      string
	}{
		{nil, n, "this mailing is split into shards: reading the journals news.shard-1-of-2.journal, news.shard-2-of-2.journal"},
		{[]string{filepath.Join(filepath.Dir(cfg.Send.Journal), "news.shard-*.journal")}, n, ""},
		{[]string{first, first}, len(journalKeys(t, first)), ""},
	} {
		var out strings.Builder
		rep, _, _, err := Report(context.Background(), cfg, nil, tt.journals, &out)
		if err != nil {
			t.Fatalf("report %v: %v", tt.journals, err)
		}
		if rep.Letters != n || rep.Counts[journal.Delivered] != tt.delivered || rep.Counts["not sent"] != n-tt.delivered {
			t.Errorf("report %v: %d letters, %v; want %d delivered", tt.journals, rep.Letters, rep.Counts, tt.delivered)
		}
		if !strings.Contains(out.String(), tt.says) || tt.says == "" && out.Len() > 0 {
			t.Errorf("report %v says %q, want %q", tt.journals, out.String(), tt.says)
		}
	}

	// Sent again, a shard finds its letters delivered.
	if _, err := Send(context.Background(), cfg, SendOptions{Shard: campaign.Shard{K: 2, N: 2}}); err != nil {
		t.Errorf("shard 2/2 again: %v", err)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if !maps.Equal(be.seen, want) {
		t.Errorf("after shard 2/2 again, the server saw %v", be.seen)
	}
}

// TestShardRefusals: a mailing is sent whole or in one split. A send of
// another split, or whole, refuses while journals with records say
// otherwise, naming them, and sends nothing; test sends and empty
// journals say nothing.
func TestShardRefusals(t *testing.T) {
	whole := campaign.Shard{}
	type step struct {
		shard    campaign.Shard
		redirect bool
		says     string // in the refusal; "" for a send that goes
	}
	tests := []struct {
		name  string
		empty []string // journals there, empty, before the steps
		steps []step
	}{
		{"another split", nil, []step{
			{campaign.Shard{K: 1, N: 3}, false, ""},
			{campaign.Shard{K: 1, N: 2}, false, "this mailing is split into 3 shards, not 2: news.shard-1-of-3.journal has its records"},
			{campaign.Shard{K: 2, N: 3}, false, ""},
			{whole, false, "this mailing is split into 3 shards: news.shard-1-of-3.journal, news.shard-2-of-3.journal have its records, and a send without --shard"},
		}},
		{"begun whole", nil, []step{
			{whole, false, ""},
			{campaign.Shard{K: 2, N: 2}, false, "this mailing was begun without shards: news.journal has its records"},
		}},
		{"a test send first", nil, []step{
			{whole, true, ""},
			{campaign.Shard{K: 1, N: 2}, false, ""},
			{campaign.Shard{K: 1, N: 2}, true, ""}, // a test of the split
		}},
		{"empty journals", []string{"news.journal", "news.shard-1-of-3.journal"}, []step{
			{campaign.Shard{K: 1, N: 2}, false, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mailing(t, people(12), "")
			dir := filepath.Dir(cfg.Send.Journal)
			for _, name := range tt.empty {
				os.WriteFile(filepath.Join(dir, name), nil, 0o600)
			}
			for i, s := range tt.steps {
				opts := SendOptions{Shard: s.shard}
				if s.redirect {
					opts.Redirect = &mustParse(t, "me@example.com")[0]
				}
				before := outbox(t, dir)
				_, err := Send(context.Background(), cfg, opts)
				var e *Error
				switch {
				case s.says == "" && err != nil:
					t.Errorf("step %d (%v): %v", i+1, s.shard, err)
				case s.says != "" && (!errors.As(err, &e) || e.Kind != Locked || !strings.Contains(err.Error(), s.says)):
					t.Errorf("step %d (%v): %v, want a refusal saying %q", i+1, s.shard, err, s.says)
				case s.says != "" && outbox(t, dir) != before:
					t.Errorf("step %d (%v) refused, but sent %d letters", i+1, s.shard, outbox(t, dir)-before)
				case s.says != "":
					t.Logf("%s\nhint: %s", err, e.Hint)
				}
			}
		})
	}
}

// outbox counts the letters in the mailing's Maildir.
func outbox(t *testing.T, dir string) int {
	entries, _ := os.ReadDir(filepath.Join(dir, "outbox", "new"))
	return len(entries)
}

// TestShardInvalidRows: a --skip-invalid send of each shard records an
// invalid row once, in the journal of the shard its row's identity
// falls in; every shard leaves it out.
func TestShardInvalidRows(t *testing.T) {
	cfg := mailing(t, append(people(10), "not-an-address,"), "")
	var with []string
	for k := 1; k <= 3; k++ {
		s := campaign.Shard{K: k, N: 3}
		res, err := Send(context.Background(), cfg, SendOptions{Shard: s, SkipInvalid: true})
		var e *Error
		if !errors.As(err, &e) || e.Kind != SomeFailed || res == nil || !slices.Equal(res.Invalid, []int{12}) {
			t.Errorf("shard %v: %v, invalid %v; want line 12 left out", s, err, res)
		}
		for _, st := range journalKeys(t, ShardJournal(cfg.Send.Journal, s)) {
			if st == journal.Invalid {
				with = append(with, s.String())
			}
		}
	}
	if len(with) != 1 {
		t.Errorf("the invalid row is recorded by shards %v, want one", with)
	}
	var out strings.Builder
	rep, _, _, err := Report(context.Background(), cfg, nil, nil, &out)
	if err != nil || rep.Counts[journal.Invalid] != 1 || rep.Counts[journal.Delivered] != 10 {
		t.Errorf("report: %v, %v\n%s", rep.Counts, err, out.String())
	}
}

// TestReadHistories: journals merged; a letter two of them have (it
// should not happen) is taken from the later record, with a warning.
func TestReadHistories(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	a, b, c := letter.NewKey("news", []string{"a@example.com"}, 0), letter.NewKey("news", []string{"b@example.com"}, 0), letter.NewKey("news", []string{"c@example.com"}, 0)
	write := func(name string, recs ...journal.Record) string {
		path := filepath.Join(dir, name)
		j, err := journal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			r.Dest, r.Rcpt, r.MessageID = journal.SMTP, []string{"x@example.com"}, "<x@example.com>"
			if err := j.Commit(r); err != nil {
				t.Fatal(err)
			}
		}
		j.Close()
		return path
	}
	one := write("news.shard-1-of-2.journal",
		journal.Record{Time: at, Key: a, State: journal.Delivered},
		journal.Record{Time: at, Key: c, State: journal.Failed})
	two := write("news.shard-2-of-2.journal",
		journal.Record{Time: at, Key: b, State: journal.Delivered},
		journal.Record{Time: at.Add(time.Minute), Key: c, State: journal.Delivered},
		journal.Record{Time: at, Key: b, State: journal.Delivered, Test: "me@example.com"})
	var notes strings.Builder
	h, err := readHistories([]string{one, two}, journal.SMTP, &notes)
	if err != nil {
		t.Fatal(err)
	}
	states := map[letter.Key]journal.State{}
	for k, o := range h.Outcomes {
		states[k] = o.Last.State
	}
	if want := map[letter.Key]journal.State{a: journal.Delivered, b: journal.Delivered, c: journal.Delivered}; !maps.Equal(states, want) {
		t.Errorf("merged %v, want %v", states, want)
	}
	if len(h.Letters) != 3 || h.Tests["me@example.com"] != 1 {
		t.Errorf("letters %v, tests %v", h.Letters, h.Tests)
	}
	if w := "warning: 1 letter has records in more than one journal (the first in news.shard-1-of-2.journal and in news.shard-2-of-2.journal)"; !strings.Contains(notes.String(), w) {
		t.Errorf("notes %q, want %q", notes.String(), w)
	}
}

// TestShardJournal: a shard's journal is beside the mailing's, named
// after it.
func TestShardJournal(t *testing.T) {
	s := campaign.Shard{K: 2, N: 3}
	for path, want := range map[string]string{
		"/m/course.journal":    "/m/course.shard-2-of-3.journal",
		"/m/records.log":       "/m/records.log.shard-2-of-3.journal",
		"/m/курс 2026.journal": "/m/курс 2026.shard-2-of-3.journal",
	} {
		if got := ShardJournal(path, s); got != want {
			t.Errorf("ShardJournal(%q) = %q, want %q", path, got, want)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{"course.journal", "course.shard-2-of-3.journal", "course.shard-1-of-3.journal", "course.shard-1-of-2.journal", "course.shard-x-of-2.journal", "other.shard-1-of-2.journal", "course.shard-01-of-2.journal"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o600)
	}
	var got []string
	for _, sj := range shardJournals(filepath.Join(dir, "course.journal")) {
		got = append(got, filepath.Base(sj.path))
	}
	if want := []string{"course.shard-1-of-2.journal", "course.shard-1-of-3.journal", "course.shard-2-of-3.journal"}; !slices.Equal(got, want) {
		t.Errorf("shard journals %v, want %v", got, want)
	}
}
