package campaign

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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

// TestGroupedWalksLeaveNoFile: however a walk of grouped rows ends (to
// the end, stopped by its callback, or cancelled, as Ctrl-C does), the
// temporary file of the groups is closed, and it never had a name in the
// temporary folder. Linux shows a process's open files in /proc.
func TestGroupedWalksLeaveNoFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc/self/fd")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var csv strings.Builder
	csv.WriteString("name,email,subject,grade\n")
	for i := range 300 {
		fmt.Fprintf(&csv, "P%d,p%d@example.com,S%d,5\n", i%50, i%50, i)
	}
	cfg := setup(t, groupedLetter, csv.String())
	cfg.Recipients.GroupBy = "email"
	for _, tt := range []struct {
		name string
		fn   func(cancel func(), n int) error
		want error
	}{
		{"to the end", func(func(), int) error { return nil }, nil},
		{"stopped", func(_ func(), n int) error {
			if n == 3 {
				return ErrStop
			}
			return nil
		}, nil},
		{"cancelled", func(cancel func(), n int) error {
			if n == 3 {
				cancel()
			}
			return nil
		}, context.Canceled},
		{"failed", func(func(), int) error { return errDiskFull }, errDiskFull},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			var open []string
			_, err := New(cfg, Options{}).Letters(ctx, func(*letter.Letter, *recipients.Record) error {
				n++
				if n == 1 {
					open = filesOpenIn(t, tmp)
				}
				return tt.fn(cancel, n)
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("Letters: %v, want %v", err, tt.want)
			}
			if len(open) != 1 || !strings.HasSuffix(open[0], " (deleted)") {
				t.Errorf("open at the first letter: %q, want one file without a name", open)
			}
			if open := filesOpenIn(t, tmp); len(open) > 0 {
				t.Errorf("open after the walk: %q", open)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left in the temporary folder: %v", left)
			}
		})
	}
}

var errDiskFull = errors.New("disk full")

// filesOpenIn lists the files in dir this process has open.
func filesOpenIn(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			out = append(out, target)
		}
	}
	return out
}
