package mailing

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// delivery is a letter delivered at a time, to rcpts recipients, at
// dest ("" for a record older than destinations).
type delivery struct {
	at    time.Time
	rcpts int
	dest  string
}

// delivered writes a journal at path with the deliveries.
func delivered(t *testing.T, path string, ds ...delivery) {
	t.Helper()
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i, d := range ds {
		k := letter.InvalidKey("c", uint64(i+1))
		var rcpt []string
		for n := range max(d.rcpts, 1) {
			rcpt = append(rcpt, fmt.Sprintf("r%d@example.com", n))
		}
		if err := j.Commit(journal.Record{Key: k, Line: i + 2, Rcpt: rcpt, Attempt: 1, State: journal.Delivered, Time: d.at, Dest: d.dest}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunLimit: send.daily_limit counts, over the rolling window that
// ends at the send's clock, the letters or the recipients the journal
// delivered to the send's destination; --limit cuts what is left; a
// full window says when the next letters can go, in the clock's zone.
func TestRunLimit(t *testing.T) {
	zone := time.FixedZone("MSK", 3*60*60)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, zone) // a Monday
	path := filepath.Join(t.TempDir(), "m.journal")
	delivered(t, path,
		delivery{at: now.Add(-25 * time.Hour), dest: journal.SMTP},                     // out of any window here
		delivery{at: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC), dest: journal.SMTP}, // 11:00 yesterday, in the send's zone
		delivery{at: now.Add(-2 * time.Hour), rcpts: 3},                                // with two copies; no destination: counts
		delivery{at: now.Add(-time.Hour), dest: "maildir:/elsewhere"},                  // another destination
		delivery{at: now.Add(-time.Minute), dest: journal.SMTP},
		delivery{at: now.Add(time.Hour), dest: journal.SMTP}, // after the clock: not counted
	)
	day := func(n int) config.Quota { return config.Quota{N: n, Per: config.Day} }
	tests := []struct {
		quota             config.Quota
		counts            string
		limit             int
		max, budget, left int
		err               string // of a Rerun error; "" for none
	}{
		{config.Quota{}, "", 0, 0, 0, 0, ""},
		{config.Quota{}, "", 7, 7, 0, 0, ""},
		{day(10), config.CountLetters, 0, 7, 0, 7, ""},
		{day(10), config.CountLetters, 5, 5, 0, 7, ""},
		{day(10), config.CountLetters, 9, 7, 0, 7, ""},
		{day(4), "", 0, 1, 0, 1, ""},
		{day(3), config.CountLetters, 0, 0, 0, 0, "send.daily_limit of 3 letters per 24 h reached: the next letters can go at 11:00 today"},
		{day(2), config.CountLetters, 1, 0, 0, 0, "send.daily_limit of 2 letters per 24 h reached"},
		{day(10), config.CountRecipients, 0, 0, 5, 5, ""},
		{day(10), config.CountRecipients, 4, 4, 5, 5, ""},
		{day(5), config.CountRecipients, 0, 0, 0, 0, "send.daily_limit of 5 recipients per 24 h reached: the next letters can go at 11:00 today"},
		{config.Quota{N: 3, Per: time.Hour}, config.CountLetters, 0, 2, 0, 2, ""},
		{config.Quota{N: 1, Per: time.Hour}, config.CountLetters, 0, 0, 0, 0, "send.daily_limit of 1 letter per 1 h reached: the next letters can go at 10:59 today"},
		{config.Quota{N: 4, Per: 3 * time.Hour}, config.CountRecipients, 0, 0, 0, 0, "send.daily_limit of 4 recipients per 3 h reached: the next letters can go at 11:00 today"},
	}
	for _, tt := range tests {
		cfg := &config.Config{}
		cfg.Send.Journal, cfg.Send.DailyLimit, cfg.Send.DailyLimitCounts = path, tt.quota, tt.counts
		w, err := openWindow(cfg, "smtp:mx.example.com:587", "", now)
		if err != nil {
			t.Fatal(err)
		}
		l, err := runLimit(tt.limit, w)
		var e *Error
		switch {
		case tt.err != "" && (!errors.As(err, &e) || e.Kind != Rerun || !strings.Contains(e.Error(), tt.err) || e.Hint != "run send again then, or send --wait, which waits for it"):
			t.Errorf("%v %s, limit %d: error %v, want a Rerun error saying %q", tt.quota, tt.counts, tt.limit, err, tt.err)
		case tt.err == "" && (err != nil || l.max != tt.max || l.budget != tt.budget || l.left != tt.left || (l.window == nil) != (tt.quota.N == 0)):
			t.Errorf("%v %s, limit %d: runLimit = %+v, %v; want max %d, budget %d, left %d", tt.quota, tt.counts, tt.limit, l, err, tt.max, tt.budget, tt.left)
		}
	}
}

// TestWindowNext: the next letters can go when the oldest delivery the
// window counts leaves it, said in the clock's zone, rounded up.
func TestWindowNext(t *testing.T) {
	zone := time.FixedZone("MSK", 3*60*60)
	now := time.Date(2026, 12, 7, 23, 30, 0, 0, zone) // a Monday
	tests := []struct {
		quota  config.Quota
		oldest time.Time
		want   string
	}{
		{config.Quota{N: 500, Per: config.Day}, time.Date(2026, 12, 6, 23, 40, 20, 0, zone), "at 23:41 today"}, // rounded up
		{config.Quota{N: 500, Per: config.Day}, time.Date(2026, 12, 7, 9, 14, 0, 0, zone), "at 09:14 tomorrow (Tue 8 Dec)"},
		{config.Quota{N: 500, Per: config.Day}, time.Date(2026, 12, 7, 6, 14, 0, 0, time.UTC), "at 09:14 tomorrow (Tue 8 Dec)"},
		{config.Quota{N: 500, Per: config.Day}, time.Time{}, "at 23:30 tomorrow (Tue 8 Dec)"}, // none counted: this run's first
		{config.Quota{N: 500, Per: 72 * time.Hour}, time.Date(2026, 12, 7, 9, 14, 0, 0, zone), "at 09:14 on Thu 10 Dec"},
		{config.Quota{N: 5, Per: 10 * time.Second}, now.Add(-3500 * time.Millisecond), "at 23:30:07 today"},
	}
	for _, tt := range tests {
		w := &window{quota: tt.quota, now: now, oldest: tt.oldest}
		if got := w.next(); got != tt.want {
			t.Errorf("%v, oldest %v: next() = %q, want %q", tt.quota, tt.oldest, got, tt.want)
		}
	}
}

// TestNotePlan: what the journal shows before a send is said, and a
// mailing that would send rows another journal sent is stopped unless
// the user said it is a new mailing.
func TestNotePlan(t *testing.T) {
	other := filepath.Join(t.TempDir(), "elsewhere", "autumn.journal")
	tests := []struct {
		name       string
		plan       campaign.Plan
		newMailing bool
		fromFile   bool
		kind       Kind // of the error; 0 for none
		want       string
	}{
		{"copy in another folder", campaign.Plan{Before: map[string]int{other: 3}}, false, false, Locked, "was sent from another folder"},
		{"copy, --new-mailing", campaign.Plan{Before: map[string]int{other: 3}}, true, false, 0, "warning: --new-mailing: the mailing of " + other + " sent letters for 3 of these"},
		{"config copied, no campaign", campaign.Plan{Before: map[string]int{"autumn.journal": 2}}, false, true, Config, `campaign: "autumn"`},
		{"campaign renamed", campaign.Plan{Before: map[string]int{"autumn.journal": 2}}, false, false, 0, `warning: campaign "winter" is new, but autumn.journal sent letters for 2`},
		{"journal of other letters", campaign.Plan{Renamed: true, Recorded: 5}, false, false, 0, "has records of 5 letters, none of them in this mailing"},
		{"regrouped", campaign.Plan{Regrouped: []int{4, 9}}, false, false, 0, "2 letters of grouped rows went out before with other rows than they have now (lines 4, 9)"},
		{"elsewhere", campaign.Plan{Elsewhere: map[string]int{"maildir:/tmp/out": 2}}, false, false, 0, "2 letters delivered to Maildir /tmp/out before"},
		{"nothing to say", campaign.Plan{}, false, false, 0, ""},
	}
	for _, tt := range tests {
		var notes strings.Builder
		cfg := &config.Config{Campaign: "winter", File: "/m/mailmerge.yaml", CampaignFromFile: tt.fromFile}
		cfg.Send.Journal = "/m/winter.journal"
		s := &send{cfg: cfg, opts: SendOptions{NewMailing: tt.newMailing}, notes: &notes, transport: &sender.SMTP{Host: "mx", Port: 587}}
		err := s.notePlan(tt.plan)
		var e *Error
		switch {
		case tt.kind != 0 && (!errors.As(err, &e) || e.Kind != tt.kind || !strings.Contains(e.Error()+"\n"+e.Hint, tt.want)):
			t.Errorf("%s: error %v, want a %v error saying %q", tt.name, err, tt.kind, tt.want)
		case tt.kind == 0 && err != nil:
			t.Errorf("%s: error %v", tt.name, err)
		case tt.kind == 0 && !strings.Contains(notes.String(), tt.want), tt.want == "" && notes.Len() > 0:
			t.Errorf("%s: notes %q, want %q", tt.name, notes.String(), tt.want)
		}
	}
}

// TestInvalidRows: the rows a --skip-invalid send leaves out are
// recorded once it sends, not during the check; a test send records
// none of them.
func TestInvalidRows(t *testing.T) {
	for _, test := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "m.journal")
		j, err := journal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		v := &invalidRows{j: j, campaign: "c", dest: journal.SMTP, test: test}
		v.record(&recipients.Record{Line: 3}, 33, errors.New("checked"))
		v.sending = true
		v.record(&recipients.Record{Line: 5}, 55, errors.New("people.csv:5:2: bad address"))
		j.Close()
		if len(v.lines) != 1 || v.lines[0] != 5 {
			t.Errorf("test %v: lines %v, want [5]", test, v.lines)
		}
		var got []journal.Record
		journal.Read(path, func(r journal.Record) error { got = append(got, r); return nil })
		want := 1
		if test {
			want = 0
		}
		if len(got) != want || want == 1 && (got[0].State != journal.Invalid || got[0].Line != 5 || got[0].Text != "people.csv:5:2: bad address") {
			t.Errorf("test %v: journal %+v, want %d invalid record of line 5", test, got, want)
		}
	}
}

// TestAtWindow: a run that stopped at send.daily_limit says so, with
// how many letters went and when the next can go, in place of the plain
// "run send again"; not when something else stopped it or is worse.
func TestAtWindow(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 14, 0, 0, time.UTC)
	w := &window{quota: config.Quota{N: 500, Per: config.Day}, recipients: true, now: now, left: 500}
	rerun := &Error{Kind: Rerun, Quiet: true, Err: errors.New("run send again later")}
	failed := &Error{Kind: SomeFailed, Quiet: true, Err: errors.New("refused")}
	stopped := sender.Stats{Delivered: 480, Untouched: 20}
	tests := []struct {
		name   string
		err    error
		st     sender.Stats
		runErr error
		limit  int
		win    *window
		want   string // "" for err unchanged
	}{
		{"stopped at the window", rerun, stopped, nil, 0, w, "stopped at send.daily_limit of 500 recipients per 24 h: 480 letters went in this run; the next letters can go at 09:14 tomorrow (Tue 8 Dec)"},
		{"under --limit", rerun, stopped, nil, 1000, w, "stopped at send.daily_limit of 500 recipients per 24 h"},
		{"--limit stopped it", rerun, stopped, nil, 480, w, ""},
		{"no window", rerun, stopped, nil, 0, nil, ""},
		{"interrupted", rerun, stopped, sender.ErrInterrupted, 0, w, ""},
		{"nothing untouched", rerun, sender.Stats{Delivered: 480, Deferred: 20}, nil, 0, w, ""},
		{"refusals are worse", failed, stopped, nil, 0, w, ""},
	}
	for _, tt := range tests {
		got := atWindow(tt.err, tt.st, tt.runErr, tt.limit, runLimits{window: tt.win})
		var e *Error
		switch {
		case tt.want == "" && got != tt.err:
			t.Errorf("%s: %v, want %v unchanged", tt.name, got, tt.err)
		case tt.want != "" && (!errors.As(got, &e) || e.Kind != Rerun || !strings.Contains(e.Error(), tt.want)):
			t.Errorf("%s: %v, want a Rerun error saying %q", tt.name, got, tt.want)
		}
	}
}
