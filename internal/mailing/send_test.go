package mailing

import (
	"errors"
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

// delivered writes a journal at path with a letter delivered at each of
// times.
func delivered(t *testing.T, path string, times ...time.Time) {
	t.Helper()
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i, at := range times {
		k := letter.InvalidKey("c", uint64(i+1))
		if err := j.Commit(journal.Record{Key: k, Line: i + 2, Rcpt: []string{"a@example.com"}, Attempt: 1, State: journal.Delivered, Time: at}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunLimit: send.daily_limit counts the letters delivered since the
// midnight of the send's clock, in its own zone, and --limit cuts what
// is left.
func TestRunLimit(t *testing.T) {
	zone := time.FixedZone("MSK", 3*60*60)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, zone)
	path := filepath.Join(t.TempDir(), "m.journal")
	delivered(t, path,
		now.Add(-11*time.Hour),                        // 23:00 the day before
		time.Date(2026, 12, 7, 0, 30, 0, 0, zone),     // today
		time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC), // 01:00 today, in the send's zone
		now.Add(-time.Minute),                         // today
	)
	tests := []struct {
		daily, limit int
		max, left    int
		kind         Kind
		wantErr      bool
	}{
		{0, 0, 0, 0, 0, false},
		{0, 7, 7, 0, 0, false},
		{10, 0, 7, 7, 0, false},
		{10, 5, 5, 7, 0, false},
		{10, 9, 7, 7, 0, false},
		{4, 0, 1, 1, 0, false},
		{3, 0, 0, 0, Rerun, true},
		{2, 1, 0, 0, Rerun, true},
	}
	for _, tt := range tests {
		cfg := &config.Config{}
		cfg.Send.Journal, cfg.Send.DailyLimit = path, tt.daily
		max, left, err := runLimit(cfg, tt.limit, now)
		var e *Error
		switch {
		case tt.wantErr && (!errors.As(err, &e) || e.Kind != tt.kind || !strings.Contains(e.Error(), "reached today")):
			t.Errorf("daily %d, limit %d: error %v, want a %v error", tt.daily, tt.limit, err, tt.kind)
		case !tt.wantErr && (err != nil || max != tt.max || left != tt.left):
			t.Errorf("daily %d, limit %d: runLimit = %d, %d, %v; want %d, %d", tt.daily, tt.limit, max, left, err, tt.max, tt.left)
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
