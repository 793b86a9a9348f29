package campaign

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// setup writes a mailing into a temporary folder and returns its config.
func setup(t *testing.T, letter, csv string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte(letter), 0o644)
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte(csv), 0o644)
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("12345"), 0o644)
	cfg := &config.Config{File: filepath.Join(dir, "m.yaml"), Template: "letter.txt", Recipients: config.Recipients{File: "people.csv"}}
	cfg.Resolve()
	return cfg
}

type collected struct {
	letters  []*letter.Letter
	errs     []string
	warnings []string
}

func walk(t *testing.T, cfg *config.Config, stopAfter int) (collected, Summary, error) {
	var c collected
	camp := New(cfg, Options{
		OnError:   func(err error) { c.errs = append(c.errs, err.Error()) },
		OnWarning: func(err error) { c.warnings = append(c.warnings, err.Error()) },
		Now:       func() time.Time { return time.Unix(0, 0) },
	})
	sum, err := camp.Letters(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		c.letters = append(c.letters, l)
		if stopAfter > 0 && len(c.letters) == stopAfter {
			return ErrStop
		}
		return nil
	})
	return c, sum, err
}

const letterText = "From: s@example.com\nTo: {{.name}} <{{.email}}>\nAttachment: {{.file}}\n\nHi {{.name}}\n"

func TestLetters(t *testing.T) {
	cfg := setup(t, letterText, "name;email;file\nIvan;ivan@example.com;a.txt\nBad;bad@example;a.txt\nOlga;olga@example.com;\nIvan again;IVAN@example.com;a.txt\n")
	c, sum, err := walk(t, cfg, 0)
	if !errors.Is(err, ErrProblems) {
		t.Fatalf("err = %v, want ErrProblems", err)
	}
	want := Summary{Rows: 4, Letters: 3, Recipients: 3, Attachments: 2, AttachmentBytes: 10, Errors: 1, Warnings: 1, Encoding: "utf-8", Delimiter: ';'}
	if sum != want {
		t.Errorf("summary = %+v\nwant %+v", sum, want)
	}
	if wantErrs := []string{`people.csv:3:5: field "email": header To: address "bad@example": domain "example" has no dot`}; !slices.Equal(c.errs, wantErrs) {
		t.Errorf("errors = %q", c.errs)
	}
	if len(c.warnings) != 1 || !strings.Contains(c.warnings[0], "address ivan@example.com is in 2 rows (lines 2, 5)") {
		t.Errorf("warnings = %q", c.warnings)
	}
	var lines []int
	for _, l := range c.letters {
		lines = append(lines, l.Line)
	}
	if !slices.Equal(lines, []int{2, 4, 5}) {
		t.Errorf("letter lines = %v", lines)
	}
	// Two letters to the same person get different Message-IDs, and the
	// first is the one a one-row CSV would give.
	if c.letters[0].MessageID == c.letters[2].MessageID {
		t.Error("rows with the same recipient share a Message-ID")
	}
	if want := letter.NewKey("m", []string{"ivan@example.com"}, 0).MessageID("example.com"); c.letters[0].MessageID != want {
		t.Errorf("Message-ID = %s, want %s", c.letters[0].MessageID, want)
	}
}

func TestTemplateProblemsStopBeforeRows(t *testing.T) {
	cfg := setup(t, "From: s@example.com\nTo: {{.mail}}\n\n{{.nmae}}\n", "name,email\nIvan,ivan@example.com\n")
	c, sum, err := walk(t, cfg, 0)
	if !errors.Is(err, ErrProblems) || len(c.errs) != 2 || sum.Rows != 0 || len(c.letters) != 0 {
		t.Errorf("err %v, errors %q, summary %+v", err, c.errs, sum)
	}
}

// TestHeaderProblemsAreReportedOneByOne: each problem of the header row is
// its own located error, not one wrapped message.
func TestHeaderProblemsAreReportedOneByOne(t *testing.T) {
	cfg := setup(t, letterText, "name,,name\nIvan,x,y\n")
	c, _, err := walk(t, cfg, 0)
	want := []string{"people.csv:1:6: bad header row: field 2 has no name", `people.csv:1:7: bad header row: field name "name" repeats field 1`}
	if !errors.Is(err, ErrProblems) || !slices.Equal(c.errs, want) {
		t.Errorf("err %v, errors %q", err, c.errs)
	}
}

func TestStopAndCancel(t *testing.T) {
	var csv strings.Builder
	csv.WriteString("name,email,file\n")
	for i := range 100 {
		fmt.Fprintf(&csv, "P%d,p%d@example.com,a.txt\n", i, i)
	}
	cfg := setup(t, letterText, csv.String())
	c, _, err := walk(t, cfg, 3)
	if err != nil || len(c.letters) != 3 {
		t.Errorf("ErrStop: err %v, %d letters", err, len(c.letters))
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = New(cfg, Options{}).Letters(ctx, func(*letter.Letter, *recipients.Record) error {
		n++
		if n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 5 {
		t.Errorf("cancel: err %v after %d letters", err, n)
	}
}

// TestEnvelopes: identities without the rest of the letter. A row whose
// attachment is gone still has its letter's identity, the same one the
// full walk gives.
func TestEnvelopes(t *testing.T) {
	cfg := setup(t, letterText, "name,email,file\nIvan,ivan@example.com,a.txt\nOlga,olga@example.com,gone.txt\nIvan,ivan@example.com,a.txt\n")
	c, _, err := walk(t, cfg, 0)
	if !errors.Is(err, ErrProblems) || len(c.letters) != 2 {
		t.Fatalf("Letters: %v, %d letters", err, len(c.letters))
	}
	var keys []letter.Key
	sum, err := New(cfg, Options{}).Envelopes(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		if l.Body != nil || l.Attachments != nil || len(l.Fields) != 2 {
			t.Errorf("line %d: more than the envelope (From, To): %+v", l.Line, l)
		}
		keys = append(keys, l.Key)
		return nil
	})
	if err != nil || sum.Letters != 3 || len(keys) != 3 {
		t.Fatalf("Envelopes: %v, %+v", err, sum)
	}
	if keys[0] != c.letters[0].Key || keys[2] != c.letters[1].Key || keys[0] == keys[2] {
		t.Errorf("keys differ from the full walk's: %v; %v %v", keys, c.letters[0].Key, c.letters[1].Key)
	}
}

// TestPlan: what a send would do, asked of the pool letter by letter.
func TestPlan(t *testing.T) {
	cfg := setup(t, letterText, "name,email,file\nA,a@example.com,a.txt\nB,b@example.com,a.txt\nC,c@example.com,\n")
	c, _, err := walk(t, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(cfg.Send.Journal)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	outbox := &sender.Maildir{Path: filepath.Join(filepath.Dir(cfg.File), "outbox")}
	// A delivered to this Maildir, B of unknown fate there; C delivered
	// to another one.
	for i, state := range []journal.State{journal.Delivered, journal.Unknown} {
		l := c.letters[i]
		j.Commit(journal.Record{Key: l.Key, Dest: outbox.Destination(), Line: l.Line, Rcpt: l.Recipients, MessageID: l.MessageID, Attempt: 1, State: state})
	}
	j.Commit(journal.Record{Key: c.letters[2].Key, Dest: "maildir:/elsewhere", Attempt: 1, State: journal.Delivered})
	for _, tt := range []struct {
		resendUnknown bool
		toSend        int
	}{{false, 1}, {true, 2}} {
		p, err := New(cfg, Options{}).Plan(context.Background(), &sender.Pool{Transport: outbox, Journal: j, ResendUnknown: tt.resendUnknown})
		if err != nil || p.Letters != 3 || p.ToSend != tt.toSend || p.Known != 2 || p.Seen != 3 || p.Recorded != 3 || p.Renamed() ||
			!maps.Equal(p.Elsewhere, map[string]int{"maildir:/elsewhere": 1}) {
			t.Errorf("resend unknown %v: %+v, %v", tt.resendUnknown, p, err)
		}
	}
	// A test run sends every letter, whatever the journal says.
	p, _ := New(cfg, Options{}).Plan(context.Background(), &sender.Pool{Transport: outbox, Journal: j, Redirect: &address.Mailbox{Addr: "me@example.com"}})
	if p.ToSend != 3 {
		t.Errorf("test run: %+v", p)
	}
	cfg.Campaign = "renamed"
	if p, _ := New(cfg, Options{}).Plan(context.Background(), &sender.Pool{Transport: outbox, Journal: j}); !p.Renamed() || p.ToSend != 3 {
		t.Errorf("renamed campaign: %+v", p)
	}
}
