package campaign

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/selection"
)

var update = flag.Bool("update", false, "rewrite golden files")

// groupedLetter lists the rows of each group, so that the golden files
// show which rows made each letter.
const groupedLetter = "From: dept@example.edu\nTo: {{.name}} <{{.email}}>\nSubject: Оценки\n\n{{range .Rows}}{{.subject}}: {{.grade}}\n{{end}}"

// TestGroupedGolden holds the letters of a grouped campaign to what the
// code made before groups were read back from a temporary file (golden
// files written by the version that held every row in memory): the same
// letters in the same order, with the same identities (key, Message-ID,
// fingerprint) and recipients, and the same problems at the same places.
// The journal knows letters by their identities: a change here would
// resend, or skip, letters of a mailing sent in part.
//
// testdata/grouped/grades.csv is 40 students by 3 subjects, a subject
// after another, so a student's rows are spread over the file. In it:
// two siblings with their parents' address (line 9, 10 and on), an
// address in other case and spaces (lines 45, 87), an empty address
// (line 12), a row with a field too many (line 52), an empty id (line
// 102), a bad address in a student's last row (line 112) and a name that
// is not its group's (line 118).
func TestGroupedGolden(t *testing.T) {
	csv, err := os.ReadFile("testdata/grouped/grades.csv")
	if err != nil {
		t.Fatal(err)
	}
	chemistry, err := selection.Parse("", []string{"subject=Химия"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		groupBy string
		sel     *selection.Selection
	}{
		{"email", "email", nil},
		{"id", "id", nil},
		{"email-chemistry", "email", chemistry},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := setup(t, groupedLetter, string(csv))
			cfg.Recipients.GroupBy = tt.groupBy
			var out strings.Builder
			camp := New(cfg, Options{
				OnError:      func(err error) { fmt.Fprintf(&out, "error: %v\n", err) },
				OnWarning:    func(err error) { fmt.Fprintf(&out, "warning: %v\n", err) },
				Now:          func() time.Time { return time.Unix(0, 0) },
				Select:       tt.sel,
				OnUnselected: func(l *letter.Letter) { fmt.Fprintf(&out, "unselected: %s\n", describe(l)) },
				OnInvalid: func(rec *recipients.Record, fp uint64, err error) {
					fmt.Fprintf(&out, "invalid: line %d fp %016x\n", rec.Line, fp)
				},
			})
			sum, err := camp.Letters(context.Background(), func(l *letter.Letter, rec *recipients.Record) error {
				if rec.Line != l.Line {
					t.Errorf("letter of line %d handed out with line %d", l.Line, rec.Line)
				}
				fmt.Fprintf(&out, "letter: %s\n%s", describe(l), l.Body)
				return nil
			})
			fmt.Fprintf(&out, "summary: %+v\nerr: %v\n", sum, err)
			golden := filepath.Join("testdata", "grouped", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Errorf("letters differ from %s:\n%s", golden, out.String())
			}
		})
	}
}

func describe(l *letter.Letter) string {
	return fmt.Sprintf("line %d key %s fp %016x to %s %s", l.Line, l.Key, l.Fingerprint, strings.Join(l.Recipients, ","), l.MessageID)
}
