package journal

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// TestJournalDue: what of a letter is still to send to a destination,
// recipient by recipient.
func TestJournalDue(t *testing.T) {
	j, err := Open(filepath.Join(t.TempDir(), "m.journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	at := func(name string, state State, dest string, rcpts ...string) Record {
		r := rec(name, state)
		r.Dest = dest
		if rcpts != nil {
			r.Rcpt = rcpts
		}
		return r
	}
	refused := at("refused", Delivered, "maildir:/out", "a@example.com", "b@example.com", "c@example.com")
	refused.Rejected = []Rejection{{Rcpt: "b@example.com", State: Failed, Code: 550}, {Rcpt: "c@example.com", State: Deferred, Code: 451}}
	for _, r := range []Record{
		at("delivered", Delivered, "maildir:/out"),
		at("failed", Failed, "maildir:/out"),
		at("unknown", EOD, "maildir:/out"),
		at("deferred", Deferred, "maildir:/out"),
		at("renamed", Delivered, "maildir:/out", "old@example.com"), // known by a name (recipients.key), its address edited since
		at("older", Delivered, ""),                                  // older than destinations: counts for every one
		refused,
	} {
		if err := j.Commit(r); err != nil {
			t.Fatal(err)
		}
	}

	own := func(name string) []string { return []string{name + "@example.com"} }
	for _, tt := range []struct {
		name          string
		rcpts         []string // the letter's; own(name) when nil
		suppressed    []string
		dest          string
		resendUnknown bool
		want          []string
		known         bool
		elsewhere     string
	}{
		{name: "new", dest: "maildir:/out", want: own("new")},
		{name: "delivered", dest: "maildir:/out", known: true},
		{name: "delivered", dest: "smtp:mx:25", want: own("delivered"), elsewhere: "maildir:/out"},
		{name: "failed", dest: "maildir:/out", known: true},
		{name: "failed", dest: "maildir:/out", resendUnknown: true, known: true},
		{name: "unknown", dest: "maildir:/out", known: true},
		{name: "unknown", dest: "maildir:/out", resendUnknown: true, want: own("unknown"), known: true},
		{name: "deferred", dest: "maildir:/out", want: own("deferred"), known: true},
		{name: "deferred", dest: "maildir:/out", suppressed: own("deferred"), known: true},
		{name: "new", rcpts: []string{"x@example.com", "Y@example.com"}, suppressed: []string{"y@example.com"}, dest: "maildir:/out", want: []string{"x@example.com"}},
		{name: "renamed", rcpts: []string{"new@example.com", "s@example.com"}, suppressed: []string{"s@example.com"}, dest: "maildir:/out", want: []string{"new@example.com"}, known: true},
		{name: "older", dest: "smtp:mx:25", known: true},
		{name: "refused", rcpts: []string{"a@example.com", "b@example.com", "c@example.com"}, dest: "maildir:/out", want: []string{"c@example.com"}, known: true},
		{name: "refused", rcpts: []string{"a@example.com", "b@example.com", "d@example.com"}, dest: "maildir:/out", want: []string{"d@example.com"}, known: true},
	} {
		rcpts := tt.rcpts
		if rcpts == nil {
			rcpts = own(tt.name)
		}
		l := &letter.Letter{Key: key(tt.name), Recipients: rcpts, Suppressed: tt.suppressed}
		e, due := j.Due(l, tt.dest, tt.resendUnknown)
		if !slices.Equal(due, tt.want) || e.Known != tt.known || e.Elsewhere != tt.elsewhere {
			t.Errorf("%s at %s (resend unknown %v, suppressed %q): due %q, known %v, elsewhere %q; want %q, %v, %q",
				tt.name, tt.dest, tt.resendUnknown, tt.suppressed, due, e.Known, e.Elsewhere, tt.want, tt.known, tt.elsewhere)
		}
	}
}
