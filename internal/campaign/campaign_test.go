package campaign

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

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
	want := Summary{Rows: 4, Letters: 3, Recipients: 3, Attachments: 2, AttachmentBytes: 10, Errors: 1, Invalid: 1, Warnings: 1, Encoding: "utf-8", Delimiter: ';'}
	if !reflect.DeepEqual(sum, want) {
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
	// Two letters to the same person get different Message-IDs, told
	// apart by the values of their rows, not by their order.
	if c.letters[0].MessageID == c.letters[2].MessageID {
		t.Error("rows with the same recipient share a Message-ID")
	}
	fp := letter.Fingerprint(map[string]string{"name": "Ivan", "email": "ivan@example.com", "file": "a.txt"})
	if want := letter.ContentKey("m", []string{"ivan@example.com"}, fp, 0).MessageID("example.com"); c.letters[0].MessageID != want {
		t.Errorf("Message-ID = %s, want %s", c.letters[0].MessageID, want)
	}
	// A row whose recipients are its own is known by them alone.
	if want := letter.NewKey("m", []string{"olga@example.com"}, 0).MessageID("example.com"); c.letters[1].MessageID != want {
		t.Errorf("Message-ID = %s, want %s", c.letters[1].MessageID, want)
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
	cfg := setup(t, letterText, "name,email,name,email\nIvan,x,y,z\n")
	c, _, err := walk(t, cfg, 0)
	want := []string{`people.csv:1:12: bad header row: field name "name" repeats field 1`, `people.csv:1:17: bad header row: field name "email" repeats field 2`}
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
		p, err := New(cfg, Options{}).Plan(context.Background(), j, Target{Dest: outbox.Destination(), ResendUnknown: tt.resendUnknown})
		if err != nil || p.Letters != 3 || p.ToSend != tt.toSend || p.Known != 2 || p.Seen != 3 || p.Recorded != 3 || p.Renamed ||
			!maps.Equal(p.Elsewhere, map[string]int{"maildir:/elsewhere": 1}) {
			t.Errorf("resend unknown %v: %+v, %v", tt.resendUnknown, p, err)
		}
	}
	// A test run sends every letter, whatever the journal says.
	p, _ := New(cfg, Options{}).Plan(context.Background(), j, Target{Dest: outbox.Destination(), Test: true})
	if p.ToSend != 3 {
		t.Errorf("test run: %+v", p)
	}
	cfg.Campaign = "renamed"
	if p, _ := New(cfg, Options{}).Plan(context.Background(), j, Target{Dest: outbox.Destination()}); !p.Renamed || p.ToSend != 3 {
		t.Errorf("renamed campaign: %+v", p)
	}
}

// TestIdentity: the cases of docs/journal.md, "A letter's identity". A
// journal is played by a map of the keys "sent" so far, with each row's
// fingerprint.
func TestIdentity(t *testing.T) {
	const tmpl = "From: s@example.com\nTo: {{.email}}\n\n{{.course}}\n"
	cfg := setup(t, tmpl, "email,course\n")
	csvPath := cfg.Recipients.File
	type row struct{ email, course string }
	keysOf := func(rows []row, journal map[letter.Key]uint64) map[row]letter.Key {
		t.Helper()
		var csv strings.Builder
		csv.WriteString("email,course\n")
		for _, r := range rows {
			fmt.Fprintf(&csv, "%s,%s\n", r.email, r.course)
		}
		os.WriteFile(csvPath, []byte(csv.String()), 0o644)
		known := func(k letter.Key) (uint64, bool) { fp, ok := journal[k]; return fp, ok }
		out := map[row]letter.Key{}
		_, err := New(cfg, Options{Known: known, OnError: func(err error) { t.Error(err) }}).Letters(context.Background(), func(l *letter.Letter, rec *recipients.Record) error {
			r := row{rec.Fields[0], rec.Fields[1]}
			if _, dup := out[r]; dup {
				r.course += " (again)"
			}
			out[r] = l.Key
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	send := func(journal map[letter.Key]uint64, k letter.Key, fp map[string]string) {
		journal[k] = letter.Fingerprint(fp)
	}
	a, b, c := row{"ivan@example.com", "Algebra"}, row{"ivan@example.com", "Biology"}, row{"olga@example.com", "Chemistry"}
	fpOf := func(r row) map[string]string { return map[string]string{"email": r.email, "course": r.course} }

	// Case 4 of issue 7: A and B to ivan, and C; A is sent; A's row is
	// deleted: B is not taken for A.
	j := map[letter.Key]uint64{}
	first := keysOf([]row{a, b, c}, j)
	send(j, first[a], fpOf(a))
	after := keysOf([]row{b, c}, j)
	if _, sent := j[after[b]]; sent {
		t.Error("deleting A's row made B count as sent")
	}
	if after[c] != first[c] {
		t.Error("deleting a row changed another row's identity")
	}

	// Reordering and inserting rows changes no identity.
	moved := keysOf([]row{c, row{"ivan@example.com", "Drawing"}, b, a}, j)
	for _, r := range []row{a, b, c} {
		if moved[r] != first[r] {
			t.Errorf("%v: identity changed by reordering and inserting rows", r)
		}
	}

	// A row whose recipients are its own keeps its identity when a value
	// in it is fixed, and when another row with its recipients appears
	// (its values unchanged); the newcomer is a letter of its own.
	j = map[letter.Key]uint64{}
	first = keysOf([]row{c}, j)
	send(j, first[c], fpOf(c))
	fixed := row{"olga@example.com", "Chemistry II"}
	if k := keysOf([]row{fixed}, j)[fixed]; k != first[c] {
		t.Error("fixing a value in a row changed its identity")
	}
	sibling := row{"olga@example.com", "Physics"}
	both := keysOf([]row{sibling, c}, j)
	if both[c] != first[c] || both[sibling] == first[c] {
		t.Errorf("a row gaining a sibling: %v, %v (first %v)", both[c], both[sibling], first[c])
	}
	// And one that lost its siblings keeps the identity it had among them.
	j = map[letter.Key]uint64{}
	first = keysOf([]row{a, b}, j)
	send(j, first[b], fpOf(b))
	if k := keysOf([]row{b}, j)[b]; k != first[b] {
		t.Error("a row that lost its sibling changed identity")
	}

	// Rows alike in every value are letters of their own.
	twice := keysOf([]row{a, a}, map[letter.Key]uint64{})
	if twice[a] == twice[row{a.email, a.course + " (again)"}] {
		t.Error("two identical rows share an identity")
	}

	// A journal from before fingerprints numbered rows with the same
	// recipients by their order: its letters keep those identities.
	old := map[letter.Key]uint64{
		letter.NewKey("m", []string{"ivan@example.com"}, 0): 0,
		letter.NewKey("m", []string{"ivan@example.com"}, 1): 0,
	}
	k := keysOf([]row{a, b}, old)
	if k[a] != letter.NewKey("m", []string{"ivan@example.com"}, 0) || k[b] != letter.NewKey("m", []string{"ivan@example.com"}, 1) {
		t.Error("an older journal's letters lost their identities")
	}
}
