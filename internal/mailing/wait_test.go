package mailing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// msk is the users' zone in these tests: a time without an offset is
// read there, and said there.
var msk = time.FixedZone("MSK", 3*60*60)

// clock is a send's clock that only sleeping moves: Sleep adds to it.
// It also keeps the sleeps, and can be told to cancel a context at a
// sleep (a Ctrl-C while waiting).
type clock struct {
	mu     sync.Mutex
	now    time.Time
	slept  []time.Duration
	cancel func() // called at the next sleep, when set
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	cancel := c.cancel
	c.cancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

// total is how long the send slept.
func (c *clock) total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d time.Duration
	for _, s := range c.slept {
		d += s
	}
	return d
}

// mailing writes a mailing into a temporary folder: letter.txt,
// people.csv with the rows (email and when, the send_after column), and
// mailmerge.yaml with settings (YAML sections) that send to a Maildir
// unless they say otherwise. It returns its config.
func mailing(t *testing.T, rows []string, settings string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("letter.txt", "From: school@example.com\nTo: {{.email}}\nSubject: News\n\nHello\n")
	write("people.csv", "email,when\n"+strings.Join(rows, "\n")+"\n")
	if !strings.Contains(settings, "smtp:") {
		settings += "\nmaildir:\n  path: outbox\n"
	}
	write("mailmerge.yaml", "template: letter.txt\ncampaign: news\nrecipients:\n  file: people.csv\n  send_after: when\n"+settings)
	cfg, _, err := config.Load(filepath.Join(dir, "mailmerge.yaml"), nil, nil, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// people makes n rows of addresses, without send times.
func people(n int) []string {
	var rows []string
	for i := range n {
		rows = append(rows, fmt.Sprintf("p%02d@example.com,", i+1))
	}
	return rows
}

// deliveries reads the journal: the time of every delivery, in order,
// and how many times each line was delivered.
func deliveries(t *testing.T, cfg *config.Config) (times []time.Time, perLine map[int]int) {
	t.Helper()
	perLine = map[int]int{}
	err := journal.Read(cfg.Send.Journal, func(r journal.Record) error {
		if r.State == journal.Delivered {
			times = append(times, r.Time)
			perLine[r.Line]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(times, time.Time.Compare)
	return times, perLine
}

// checkWindows fails the test if any window of q holds more than q.N of
// the deliveries: a window starting at each delivery is the fullest.
func checkWindows(t *testing.T, q config.Quota, times []time.Time) {
	t.Helper()
	for i, start := range times {
		n := 0
		for _, at := range times[i:] {
			if at.Before(start.Add(q.Per)) {
				n++
			}
		}
		if n > q.N {
			t.Errorf("%d deliveries in the %s from %s, over send.daily_limit %s", n, q.Window(), start.Format("15:04:05.000"), q)
		}
	}
}

// TestWaitWindows: send --wait sends window after window until every
// letter is delivered, once, never more in a window than the limit, a
// delivery an earlier run made counted; one line per sleep says until
// when and why, and when the mailing will be done.
func TestWaitWindows(t *testing.T) {
	start := time.Date(2026, 12, 7, 23, 30, 0, 0, msk) // a Monday
	tests := []struct {
		name     string
		letters  int
		limit    string
		before   int    // deliveries of an earlier run, a second ago
		estimate string // what the confirmation says of the time it takes
		lines    []string
	}{
		{"12 letters, 5 per 10 s", 12, "5/10s", 0, "12 letters, daily_limit 5 per 10 s: 3 windows (5 now), send --wait goes on by itself: done by ~23:30:20 today", []string{
			"waiting for send.daily_limit of 5 letters per 10 s: next 5 letters at 23:30:10 today; done by ~23:30:20 today",
			"waiting for send.daily_limit of 5 letters per 10 s: next 2 letters at 23:30:20 today; done by ~23:30:20 today",
		}},
		{"one window's worth", 5, "5/10s", 0, "", nil},
		{"an earlier run's deliveries count", 8, "5/10s", 2, "6 letters, daily_limit 5 per 10 s: 2 windows (3 now), send --wait goes on by itself: done by ~23:30:10 today", []string{
			"waiting for send.daily_limit of 5 letters per 10 s: next 3 letters at 23:30:10 today; done by ~23:30:10 today",
		}},
		{"a daily limit", 120, "50", 0, "120 letters, daily_limit 50: 3 days (50 today), send --wait goes on by itself: done by Wednesday ~23:30", []string{
			"waiting for send.daily_limit of 50 letters per 24 h: next 50 letters at 23:30 tomorrow (Tue 8 Dec); done by Wednesday ~23:30",
			"waiting for send.daily_limit of 50 letters per 24 h: next 20 letters at 23:30 tomorrow (Wed 9 Dec); done by ~23:30 tomorrow",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mailing(t, people(tt.letters), "send:\n  daily_limit: "+tt.limit+"\n")
			c := newClock(start)
			if tt.before > 0 { // a run of the same mailing a second before
				before := func() time.Time { return start.Add(-time.Second) }
				if _, err := Send(context.Background(), cfg, SendOptions{Limit: tt.before, Now: before}); err == nil {
					t.Fatal("the run before sent every letter")
				}
			}
			var notes strings.Builder
			var asked []Confirmation
			res, err := Send(context.Background(), cfg, SendOptions{Wait: true, Now: c.Now, Sleep: c.Sleep, Notes: &notes,
				Confirm: func(cf Confirmation) error { asked = append(asked, cf); return nil }})
			if err != nil {
				t.Fatalf("Send: %v\n%s", err, notes.String())
			}
			if len(asked) != 1 || asked[0].Run != tt.letters-tt.before || !strings.Contains(asked[0].Estimate, tt.estimate) {
				t.Errorf("asked %+v, want once, for %d letters, saying %q", asked, tt.letters-tt.before, tt.estimate)
			}
			if res.Stats.Delivered != tt.letters-tt.before || res.Stats.Skipped[journal.Delivered] != tt.before {
				t.Errorf("stats %+v, want %d delivered by this send, %d skipped", res.Stats, tt.letters-tt.before, tt.before)
			}
			times, perLine := deliveries(t, cfg)
			for line := 2; line < 2+tt.letters; line++ {
				if perLine[line] != 1 {
					t.Errorf("line %d delivered %d times, want once", line, perLine[line])
				}
			}
			checkWindows(t, cfg.Send.DailyLimit, times)
			if got := nonEmpty(notes.String()); !slices.Equal(got, tt.lines) {
				t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.lines, "\n"))
			}
		})
	}
}

// nonEmpty splits text into its lines, without empty ones.
func nonEmpty(text string) []string {
	return slices.DeleteFunc(strings.Split(text, "\n"), func(s string) bool { return s == "" })
}

// TestWaitInterrupted: Ctrl-C while a send waits ends it at once, as an
// interrupted send, with what it sent; the same command again goes on,
// sends each letter once and keeps to the limit across both.
func TestWaitInterrupted(t *testing.T) {
	cfg := mailing(t, people(12), "send:\n  daily_limit: 5/10s\n")
	c := newClock(time.Date(2026, 12, 7, 10, 0, 0, 0, msk))
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	var notes strings.Builder
	res, err := Send(ctx, cfg, SendOptions{Wait: true, Now: c.Now, Sleep: c.Sleep, Notes: &notes})
	var e *Error
	if !errors.As(err, &e) || e.Kind != Interrupted || !strings.Contains(e.Error(), "run the same command again to go on") {
		t.Fatalf("Send: %v, want an Interrupted error", err)
	}
	if res == nil || res.Stats.Delivered != 5 || c.total() != 0 {
		t.Fatalf("interrupted: %+v, slept %v; want 5 delivered, no time slept", res, c.total())
	}

	c.now = c.now.Add(3 * time.Second) // the user runs it again
	notes.Reset()
	res, err = Send(context.Background(), cfg, SendOptions{Wait: true, Now: c.Now, Sleep: c.Sleep, Notes: &notes})
	if err != nil || res.Stats.Delivered != 7 || res.Stats.Skipped[journal.Delivered] != 5 {
		t.Fatalf("resumed: %v, %+v; want 7 delivered, 5 skipped\n%s", err, res, notes.String())
	}
	if !strings.HasPrefix(notes.String(), "waiting for send.daily_limit of 5 letters per 10 s: next 5 letters at 10:00:10 today") {
		t.Errorf("resumed, notes:\n%s", notes.String())
	}
	times, perLine := deliveries(t, cfg)
	if len(perLine) != 12 || len(times) != 12 {
		t.Errorf("%d deliveries of %d lines, want 12 of 12", len(times), len(perLine))
	}
	checkWindows(t, cfg.Send.DailyLimit, times)
}

// TestWaitOptions: --wait and --at send the mailing itself, over time:
// not with --redirect-to, --wait not with --limit; --at must read as a
// time. Nothing is sent.
func TestWaitOptions(t *testing.T) {
	cfg := mailing(t, people(2), "")
	tests := []struct {
		opts SendOptions
		want string
	}{
		{SendOptions{Wait: true, Limit: 5}, "--limit stops the send after 5 letters, --wait keeps it going"},
		{SendOptions{At: "09:00", Redirect: &mustParse(t, "me@example.com")[0]}, "a test (--redirect-to) goes at once"},
		{SendOptions{At: "noon"}, `--at: not a date and time: want a time like 09:00, 2026-12-08 09:00 or 2026-12-08T09:00:00+03:00, got "noon"`},
	}
	for _, tt := range tests {
		_, err := Send(context.Background(), cfg, tt.opts)
		var e *Error
		if !errors.As(err, &e) || e.Kind != Usage || !strings.Contains(e.Error(), tt.want) {
			t.Errorf("%+v: %v, want a usage error saying %q", tt.opts, err, tt.want)
		}
	}
	if _, err := os.Stat(cfg.Send.Journal); err == nil {
		t.Errorf("a journal was made")
	}
}

// TestWaitAt: send --at checks the rows and asks first, then waits for
// its time, and sends nothing before it; a time of day is the next one;
// a time past is an error, unless the mailing has begun.
func TestWaitAt(t *testing.T) {
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, msk) // a Monday
	tests := []struct {
		at    string
		begun bool // a letter of this mailing was sent before
		wait  bool // --wait too
		start time.Time
		note  string // the line said, or the error
		kind  Kind
	}{
		{at: "09:00", start: time.Date(2026, 12, 8, 9, 0, 0, 0, msk), note: "waiting for --at: 3 letters at 09:00 tomorrow (Tue 8 Dec); done by ~09:00 tomorrow"},
		{at: "2026-12-09 07:30", wait: true, start: time.Date(2026, 12, 9, 7, 30, 0, 0, msk), note: "waiting for --at: 3 letters at 07:30 on Wed 9 Dec; done by Wednesday ~07:30"},
		{at: "2026-12-07T15:30:00Z", start: time.Date(2026, 12, 7, 18, 30, 0, 0, msk), note: "waiting for --at: 3 letters at 18:30 today; done by ~18:30 today"},
		{at: "18:00:30", start: now.Add(30 * time.Second), note: "waiting for --at: 3 letters at 18:00:30 today; done by ~18:01 today"},
		{at: "17:59:30", start: now}, // within a minute: now
		{at: "2026-12-07 17:00", kind: Usage, note: "--at 2026-12-07 17:00 is in the past (it is 2026-12-07 18:00 now); nothing was sent"},
		{at: "2026-12-07 17:00", begun: true, start: now, note: "note: --at 2026-12-07 17:00 has passed, and this mailing has begun: it goes on now"},
	}
	for _, tt := range tests {
		t.Run(tt.at, func(t *testing.T) {
			cfg := mailing(t, people(3), "")
			c := newClock(now)
			want := 3
			if tt.begun { // the first letter went in an earlier run
				if _, err := Send(context.Background(), cfg, SendOptions{Limit: 1, Now: c.Now}); err == nil {
					t.Fatal("the first run sent every letter")
				}
				want = 2
			}
			var notes strings.Builder
			var asked []time.Time
			_, err := Send(context.Background(), cfg, SendOptions{At: tt.at, Wait: tt.wait, Now: c.Now, Sleep: c.Sleep, Notes: &notes,
				Confirm: func(Confirmation) error { asked = append(asked, c.Now()); return nil }})
			var e *Error
			if tt.kind != 0 {
				if !errors.As(err, &e) || e.Kind != tt.kind || !strings.Contains(e.Error(), tt.note) {
					t.Fatalf("Send: %v, want a %v error saying %q", err, tt.kind, tt.note)
				}
				if times, _ := deliveries(t, cfg); len(times) > 0 || len(asked) > 0 {
					t.Errorf("sent %d letters, asked %d times", len(times), len(asked))
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v\n%s", err, notes.String())
			}
			if got := nonEmpty(notes.String()); tt.note == "" && len(got) > 0 || tt.note != "" && (len(got) != 1 || got[0] != tt.note) {
				t.Errorf("notes %q, want %q", got, tt.note)
			}
			if len(asked) != 1 || !asked[0].Equal(now) {
				t.Errorf("asked at %v, want once, at %v, before the wait", asked, now)
			}
			times, _ := deliveries(t, cfg)
			times = times[3-want:]
			if len(times) != want || !times[0].Equal(tt.start) || !c.Now().Equal(tt.start) {
				t.Errorf("delivered %d at %v (the clock at %v), want %d at %v", len(times), times, c.Now(), want, tt.start)
			}
		})
	}
}

func mustParse(t *testing.T, s string) []address.Mailbox {
	t.Helper()
	list, err := address.ParseList(s)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestSendAfter: a letter waits for its row's send time: a send leaves
// it, records no attempt of it and says when the first can go; send
// --wait sleeps until then, and sends each at its time.
func TestSendAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, msk) // a Monday
	rows := []string{
		"a@example.com,",
		"b@example.com,2026-12-08 09:00",
		"c@example.com,08.12.2026 09:00",
		"d@example.com,2026-12-09",
		"e@example.com,2026-12-07 09:00", // come already
	}
	sendAfter := map[int]time.Time{3: time.Date(2026, 12, 8, 9, 0, 0, 0, msk), 4: time.Date(2026, 12, 8, 9, 0, 0, 0, msk), 5: time.Date(2026, 12, 9, 0, 0, 0, 0, msk)}

	cfg := mailing(t, rows, "")
	c := newClock(now)
	var confirmed Confirmation
	res, err := Send(context.Background(), cfg, SendOptions{Now: c.Now, Sleep: c.Sleep, Confirm: func(cf Confirmation) error { confirmed = cf; return nil }})
	var e *Error
	if !errors.As(err, &e) || e.Kind != Rerun || e.Error() != "3 letters wait for their send time (recipients.send_after), the first at 09:00 tomorrow (Tue 8 Dec)" ||
		e.Hint != "run send again then, or send --wait, which waits for them" {
		t.Errorf("Send: %v (hint %q), want a Rerun error saying which letters wait, and until when", err, e.Hint)
	}
	if res.Stats.Delivered != 2 || res.Stats.Failed+res.Stats.Deferred != 0 || c.total() != 0 {
		t.Errorf("stats %+v, slept %v; want 2 delivered, none failed, no sleep", res.Stats, c.total())
	}
	if confirmed.ToSend != 2 || confirmed.Held != 3 || !strings.Contains(confirmed.Estimate, "3 letters wait for their send time (recipients.send_after), the first at 09:00 tomorrow (Tue 8 Dec): run send again then, or send --wait") {
		t.Errorf("confirmation: %d to send, %d held, %q", confirmed.ToSend, confirmed.Held, confirmed.Estimate)
	}
	journal.Read(cfg.Send.Journal, func(r journal.Record) error {
		if _, held := sendAfter[r.Line]; held {
			t.Errorf("line %d, held, has a record: %+v", r.Line, r)
		}
		return nil
	})

	// --wait: the held letters go at their time.
	var notes strings.Builder
	res, err = Send(context.Background(), cfg, SendOptions{Wait: true, Now: c.Now, Sleep: c.Sleep, Notes: &notes})
	if err != nil || res.Stats.Delivered != 3 {
		t.Fatalf("Send --wait: %v, %+v\n%s", err, res, notes.String())
	}
	want := []string{
		"waiting for the send time of 3 letters (recipients.send_after): next at 09:00 tomorrow (Tue 8 Dec); done by Wednesday ~00:00",
		"waiting for the send time of 1 letter (recipients.send_after): next at 00:00 tomorrow (Wed 9 Dec); done by ~00:00 tomorrow",
	}
	if got := nonEmpty(notes.String()); !slices.Equal(got, want) {
		t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	journal.Read(cfg.Send.Journal, func(r journal.Record) error {
		if at, held := sendAfter[r.Line]; held && r.Time.Before(at) {
			t.Errorf("line %d: a %s record at %v, before its send time %v", r.Line, r.State, r.Time, at)
		}
		return nil
	})
	if _, perLine := deliveries(t, cfg); len(perLine) != 5 || slices.ContainsFunc(slices.Collect(maps.Values(perLine)), func(n int) bool { return n != 1 }) {
		t.Errorf("deliveries by line %v, want each of 5 once", perLine)
	}
}

// TestWaitDeferred: send --wait tries letters the server deferred again
// in later rounds, after growing delays; a letter deferred every time is
// given up after the last of them, and letters refused for good end the
// send at once: it never waits without end.
func TestWaitDeferred(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the registry of mailings
	tests := []struct {
		name  string
		rows  []string
		kind  Kind // of the error; 0 for none
		slept []time.Duration
	}{
		{"deferred twice, then delivered", []string{"a@example.com,", "soon-b@example.com,"}, 0, retryDelays[:2]},
		{"deferred every time", []string{"a@example.com,", "later-b@example.com,"}, Rerun, retryDelays},
		{"refused for good", []string{"a@example.com,", "fail-b@example.com,"}, SomeFailed, nil},
		{"refused, and held", []string{"fail-a@example.com,", "b@example.com,2026-12-07 11:00"}, SomeFailed, []time.Duration{time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := deferringServer(t)
			cfg := mailing(t, tt.rows, fmt.Sprintf("smtp:\n  host: 127.0.0.1\n  port: %d\n  security: none\nsend:\n  max_attempts: 1\n", port))
			c := newClock(time.Date(2026, 12, 7, 10, 0, 0, 0, msk))
			var notes strings.Builder
			_, err := Send(context.Background(), cfg, SendOptions{Wait: true, Now: c.Now, Sleep: c.Sleep, Notes: &notes})
			var e *Error
			switch {
			case tt.kind == 0 && err != nil, tt.kind != 0 && (!errors.As(err, &e) || e.Kind != tt.kind):
				t.Errorf("Send: %v, want kind %v\n%s", err, tt.kind, notes.String())
			}
			t.Logf("%s: %v\n%s", tt.name, err, notes.String())
			var slept []time.Duration
			for _, line := range nonEmpty(notes.String()) {
				if strings.HasPrefix(line, "waiting") {
					slept = append(slept, 0)
				}
			}
			if total, want := c.total(), sum(tt.slept); total != want || len(slept) != len(tt.slept) {
				t.Errorf("slept %v in %d waits, want %v in %d\n%s", total, len(slept), want, len(tt.slept), notes.String())
			}
		})
	}
}

func sum(ds []time.Duration) time.Duration {
	var total time.Duration
	for _, d := range ds {
		total += d
	}
	return total
}

// TestCheckSendAfter: check notes the letters that wait for their send
// time, and locates a cell that is not a time (nothing is sent then).
func TestCheckSendAfter(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 7, 18, 0, 0, 0, msk) }
	cfg := mailing(t, []string{"a@example.com,", "b@example.com,09.12.2026 08:00", "c@example.com,2026-12-08 09:00", "d@example.com,2026-12-01"}, "")
	var notes strings.Builder
	if _, err := check(context.Background(), cfg, nil, false, 0, &notes, now); err != nil {
		t.Fatal(err)
	}
	if want := "note: 2 letters wait for their send time (recipients.send_after), the first at 09:00 tomorrow (Tue 8 Dec); send --wait waits for them, a plain send leaves them for a later one\n"; notes.String() != want {
		t.Errorf("check said %q, want %q", notes.String(), want)
	}

	cfg = mailing(t, []string{"a@example.com,", "b@example.com,8 December"}, "")
	notes.Reset()
	_, err := check(context.Background(), cfg, nil, false, 0, &notes, now)
	var e *Error
	if !errors.As(err, &e) || e.Kind != Data || !strings.HasPrefix(notes.String(), `people.csv:3:15: field "when" (recipients.send_after): not a date and time: `) {
		t.Errorf("check: %v, said %q; want a Data error, the cell located", err, notes.String())
	}
	notes.Reset()
	if _, err := Send(context.Background(), cfg, SendOptions{Wait: true, Notes: &notes}); !errors.As(err, &e) || e.Kind != Data {
		t.Errorf("send: %v, want a Data error", err)
	}
	if times, _ := deliveries(t, cfg); len(times) > 0 || !strings.Contains(notes.String(), "people.csv:3:15:") {
		t.Errorf("send delivered %d letters, said %q", len(times), notes.String())
	}
}
