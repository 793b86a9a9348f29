package recipients

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestGroups(t *testing.T) {
	r, err := NewReader(strings.NewReader("name,email\nA,a@x.org\nB,b@x.org\nA2, A@X.org \nC,\nB2,b@x.org,extra\nB3,b@x.org\n"), "p.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GroupBy(context.Background(), r, "mail"); err == nil || err.Error() != `p.csv:1: no column "mail" to group by (it has name, email)` {
		t.Errorf("GroupBy(mail): %v", err)
	}
	g, _ := GroupBy(context.Background(), r, "email")
	defer g.Close()
	var got []string
	for {
		rec, group, err := g.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		var names []string
		for _, r := range group {
			names = append(names, r.Fields[0])
		}
		got = append(got, rec.Fields[0]+":"+strings.Join(names, "+"))
	}
	want := []string{
		`p.csv:5:3: field "email" is empty; recipients.group_by groups the rows by it`,
		"p.csv:6: wrong number of fields: row has 3 fields, the header has 2",
		"A:A+A2", "B:B+B3",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("groups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// groupsOf reads every group of a list, each record as its line, fields
// and field columns, an error as its text.
func groupsOf(t *testing.T, g interface {
	Read() (*Record, []*Record, error)
}) []string {
	t.Helper()
	var out []string
	for {
		rec, group, err := g.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		s := ""
		if rec != nil {
			s = describeRecord(rec)
		}
		if err != nil {
			s += " error " + err.Error()
		}
		for _, r := range group {
			s += "\n  " + describeRecord(r)
		}
		out = append(out, s)
	}
}

func describeRecord(rec *Record) string {
	s := fmt.Sprintf("line %d %q", rec.Line, rec.Fields)
	for i := range rec.Fields {
		line, col := rec.Column(i)
		s += fmt.Sprintf(" %d:%d", line, col)
	}
	return s
}

// inMemory groups rows as Groups did before it kept them in a file: all
// rows in memory, each with its columns taken as it is read.
type inMemory struct {
	groups [][]*Record
	fatal  error
	out    []memoryRead
}

type memoryRead struct {
	rec   *Record
	group []*Record
	err   error
}

func groupInMemory(r *Reader, column int) *inMemory {
	m := &inMemory{}
	var problems []memoryRead
	index := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if rec != nil {
			rec = resolved(rec)
		}
		if err != nil {
			if rec == nil {
				m.fatal = err
				break
			}
			problems = append(problems, memoryRead{rec: rec, err: err})
			continue
		}
		key := strings.ToLower(strings.TrimSpace(rec.Fields[column]))
		if key == "" {
			line, col := rec.Column(column)
			problems = append(problems, memoryRead{rec: rec, err: fmt.Errorf("%s:%d:%d: field %q is empty; recipients.group_by groups the rows by it", r.file, line, col, r.header[column])})
			continue
		}
		if i, ok := index[key]; ok {
			m.groups[i] = append(m.groups[i], rec)
			continue
		}
		index[key] = len(m.groups)
		m.groups = append(m.groups, []*Record{rec})
	}
	m.out = problems
	if m.fatal != nil {
		m.out = append(m.out, memoryRead{err: m.fatal})
	}
	for _, g := range m.groups {
		m.out = append(m.out, memoryRead{rec: g[0], group: g})
	}
	return m
}

func (m *inMemory) Read() (*Record, []*Record, error) {
	if len(m.out) == 0 {
		return nil, nil, io.EOF
	}
	r := m.out[0]
	m.out = m.out[1:]
	return r.rec, r.group, r.err
}

// resolved is rec with its columns taken now, while its lines are known.
func resolved(rec *Record) *Record {
	c := *rec
	c.pos = make([][2]int, len(rec.pos))
	for i := range rec.pos {
		c.pos[i][0], c.pos[i][1] = rec.Column(i)
	}
	c.lines = nil
	return &c
}

// FuzzGroups holds Groups to grouping in memory: the same rows in the
// same groups, in the same order, with the same lines, fields, columns and
// problems; and nothing left in the temporary folder.
func FuzzGroups(f *testing.F) {
	f.Add("name,email\nA,a@x.org\nB,b@x.org\nA2, A@X.org \nC,\nB2,b@x.org,extra\nB3,b@x.org\n", uint8(1))
	f.Add("имя;почта;заметка\r\nИван;ivan@x.ru;\"две\r\nстроки\"\r\nОльга;olga@x.ru;x\r\nИван;IVAN@x.ru;\"a;b\"\r\n", uint8(1))
	f.Add("a,b\n1,2\n3,\"unterminated\n4,2\n", uint8(1))
	f.Add("a,b\n", uint8(0))
	f.Add("name,email\nA,a@x.org\nB,b@x.org\nA2, A@X.org \nC,cc@x.org\nB2,b@x.org\nB3,BB@x.org\n", uint8(129))
	f.Fuzz(func(t *testing.T, data string, column uint8) {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		opts := Options{MaxField: 64}
		r1, err := NewReader(strings.NewReader(data), "f.csv", opts)
		if err != nil {
			return
		}
		r2, _ := NewReader(strings.NewReader(data), "f.csv", opts)
		col := int(column) % len(r1.Header())
		g, err := GroupBy(context.Background(), r1, r1.Header()[col])
		if err != nil {
			t.Fatal(err)
		}
		if column >= 128 { // values that hash alike: they are still told apart
			g.hash = func(s string) uint32 { return uint32(len(s)%3) + 1 }
		}
		got := groupsOf(t, g)
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		want := groupsOf(t, groupInMemory(r2, col))
		if !slices.Equal(got, want) {
			t.Errorf("groups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Errorf("left in the temporary folder: %v", left)
		}
	})
}

// TestGroupsOfALongList: rows spread over a list longer than the lines a
// Reader remembers keep their columns (an error in a group's row names
// its column however far it is from the end), and large groups, groups
// of one row, and groups in one run of rows all come back whole, even
// when their values hash alike.
func TestGroupsOfALongList(t *testing.T) {
	var csv strings.Builder
	// Lines long enough for the Reader to know the columns of the row it
	// has just read: it remembers 64 lines, and reads 4 KiB ahead.
	pad := strings.Repeat("-", 100)
	csv.WriteString("имя,почта,предмет,поля\n")
	for i := range 3000 {
		switch {
		case i < 1000: // a student every row, 100 students
			fmt.Fprintf(&csv, "Студент %d,s%d@example.com,\"Предмет\n%d\",%s\n", i%100, i%100, i, pad)
		case i < 2000: // one group of a thousand rows, all in a run
			fmt.Fprintf(&csv, "Все,all@example.com,Предмет %d,%s\n", i, pad)
		default: // a row a group
			fmt.Fprintf(&csv, "Один %d,one%d@example.com,%s,%s\n", i, i, strings.Repeat("ж", i%50), pad)
		}
	}
	r, _ := NewReader(strings.NewReader(csv.String()), "long.csv", Options{})
	want := groupsOf(t, groupInMemory(r, 1))
	// The first row, 6,000 lines before the end: its third field starts
	// on line 2, after "Студент 0,s0@example.com," (25 characters).
	if !strings.HasPrefix(want[0], `line 2 ["Студент 0" "s0@example.com" "Предмет\n0" "`+pad+`"] 2:1 2:11 2:26 3:4`) {
		t.Errorf("first group starts %q", want[0][:min(300, len(want[0]))])
	}
	for _, hash := range []string{"maphash", "five for all"} {
		r, _ := NewReader(strings.NewReader(csv.String()), "long.csv", Options{})
		g, err := GroupBy(context.Background(), r, "почта")
		if err != nil {
			t.Fatal(err)
		}
		if hash == "five for all" { // values hash alike by their length: still 1,101 groups
			g.hash = func(s string) uint32 { return uint32(len(s)%5) + 1 }
		}
		got := groupsOf(t, g)
		g.Close()
		if len(got) != 100+1+1000 || !slices.Equal(got, want) {
			t.Fatalf("%s: %d groups, want %d; first differences:\n%s", hash, len(got), len(want), firstDifference(got, want))
		}
	}
}

func firstDifference(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("group %d:\n%s\nwant:\n%s", i, got[i], want[i])
		}
	}
	return "one is a prefix of the other"
}

// TestGroupsCancel: the pass that reads every row stops when its context
// ends, and says so; the temporary file is gone.
func TestGroupsCancel(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	var csv strings.Builder
	csv.WriteString("name,email\n")
	for i := range 100_000 {
		fmt.Fprintf(&csv, "P%d,p%d@example.com\n", i, i)
	}
	src := &hookReader{r: strings.NewReader(csv.String()), after: 500_000, hook: cancel}
	r, _ := NewReader(src, "p.csv", Options{})
	g, _ := GroupBy(ctx, r, "email")
	if _, _, err := g.Read(); !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel: %v", err)
	}
	if _, _, err := g.Read(); err != io.EOF {
		t.Errorf("Read after the cancel's error: %v", err)
	}
	if src.read >= len(csv.String()) {
		t.Error("read to the end, cancelled")
	}
	if err := g.Close(); err != nil {
		t.Error(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in the temporary folder: %v", left)
	}
}

// hookReader calls hook once after reading after bytes.
type hookReader struct {
	r     io.Reader
	read  int
	after int
	hook  func()
}

func (h *hookReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.read += n
	if h.hook != nil && h.read >= h.after {
		h.hook()
		h.hook = nil
	}
	return n, err
}

// TestGroupsFileHasNoName: while the rows are grouped their temporary
// file is open, only its owner's, but has no name in the folder, so no
// way the process ends (Ctrl-C, a crash, kill -9) can leave it behind;
// Close closes it.
// Linux shows a process's open files in /proc.
func TestGroupsFileHasNoName(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc/self/fd")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var csv strings.Builder
	csv.WriteString("name,email\n")
	for i := range 50_000 {
		fmt.Fprintf(&csv, "P%d,p%d@example.com\n", i, i%1000)
	}
	var named []os.DirEntry
	var open []string
	src := &hookReader{r: strings.NewReader(csv.String()), after: csv.Len() / 2, hook: func() {
		named, _ = os.ReadDir(tmp)
		open = spillsOpen(t, tmp)
	}}
	r, _ := NewReader(src, "p.csv", Options{})
	g, _ := GroupBy(context.Background(), r, "email")
	if _, _, err := g.Read(); err != nil {
		t.Fatal(err)
	}
	if len(named) > 0 || len(open) != 1 || !strings.HasPrefix(open[0], "-rw------- ") || !strings.HasSuffix(open[0], " (deleted)") {
		t.Errorf("halfway through the list: %v in the folder; open: %q (want one, the owner's, deleted)", named, open)
	}
	g.Close()
	if open := spillsOpen(t, tmp); len(open) > 0 {
		t.Errorf("open after Close: %q", open)
	}
}

// spillsOpen lists the files in dir this process has open, each with
// its permissions.
func spillsOpen(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fd := range fds {
		link := filepath.Join("/proc/self/fd", fd.Name())
		if target, err := os.Readlink(link); err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			fi, err := os.Stat(link)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fi.Mode().String()+" "+target)
		}
	}
	return out
}

// TestGroupsNoTemporaryFolder: a temporary folder that cannot be written
// is said in plain words, with what to do.
func TestGroupsNoTemporaryFolder(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	r, _ := NewReader(strings.NewReader("name,email\nA,a@x.org\n"), "p.csv", Options{})
	g, _ := GroupBy(context.Background(), r, "email")
	_, _, err := g.Read()
	if err == nil || !strings.HasPrefix(err.Error(), "p.csv: recipients.group_by keeps the rows in a temporary file, which could not be made (set TMPDIR") {
		t.Errorf("Read: %v", err)
	}
	if _, _, err := g.Read(); err != io.EOF {
		t.Errorf("Read after: %v", err)
	}
}

// TestRecordIsSpilledWhole: a record read back from the temporary file
// has only what encodeRecord wrote. A field added to Record must be
// written there too, and counted here.
func TestRecordIsSpilledWhole(t *testing.T) {
	// Line, Fields and pos are written; header and r are the reader's,
	// lines is nil in a record read back.
	if n := reflect.TypeFor[Record]().NumField(); n != 6 {
		t.Errorf("Record has %d fields: write the new one in encodeRecord and read it in decodeRecord", n)
	}
}

// FuzzDecodeRecord: whatever the temporary file holds, reading a row
// back fails or gives a record; one written comes back the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte{}, 3, "Иван,ivan@x.ru")
	f.Add([]byte{2, 2, 1, 1, 'a', 'b', 2, 0, 1, 0, 3}, 0, "")
	f.Add([]byte{}, 0, "   ,,,") // line 0 made a position "not known" (found by CI's fuzzing)
	f.Fuzz(func(t *testing.T, data []byte, line int, fields string) {
		if rec, err := decodeRecord(data, nil); err == nil && (rec.Line < 0 || len(rec.Fields) > len(data)) {
			t.Errorf("decoded %+v from %d bytes", rec, len(data))
		}
		line = max(line, 0)%1_000_000 + 1 // a row is on a line; 0 is "not known"
		in := &Record{Line: line, Fields: strings.Split(fields, ","), header: []string{"h"}}
		in.pos = make([][2]int, len(in.Fields))
		for i := range in.pos {
			in.pos[i] = [2]int{line + i%3, i * 7}
		}
		in.lines = nil // columns in characters already, as a record read back has
		out, err := decodeRecord(encodeRecord(nil, in), in.header)
		if err != nil || !reflect.DeepEqual(in, out) {
			t.Errorf("round trip of %+v: %+v, %v", in, out, err)
		}
	})
}

// BenchmarkGroups groups 100,000 rows of 20,000 people, each person's
// rows spread over the list, and reads every group back.
func BenchmarkGroups(b *testing.B) {
	var csv strings.Builder
	csv.WriteString("name,email,course,grade,id\n")
	for i := range 100_000 {
		fmt.Fprintf(&csv, "Студент %d,student%d@example.com,Курс %d,%d,%07d\n", i%20_000, i%20_000, i/20_000, 2+i%4, i)
	}
	b.SetBytes(int64(csv.Len()))
	for b.Loop() {
		r, _ := NewReader(strings.NewReader(csv.String()), "b.csv", Options{})
		g, _ := GroupBy(context.Background(), r, "email")
		n := 0
		for {
			_, group, err := g.Read()
			if err == io.EOF {
				break
			}
			n += len(group)
		}
		g.Close()
		if n != 100_000 {
			b.Fatalf("%d rows", n)
		}
	}
}

// TestGroupsFileFails: a temporary file that cannot be written (a full
// disk; here, closed under the writer) ends the groups with one problem
// in plain words, and no group from the file.
func TestGroupsFileFails(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var csv strings.Builder
	csv.WriteString("name,email\nC,\n")
	for i := range 50_000 {
		fmt.Fprintf(&csv, "P%d,p%d@example.com\n", i, i%1000)
	}
	var g *Groups
	src := &hookReader{r: strings.NewReader(csv.String()), after: csv.Len() / 2, hook: func() { g.spill.f.Close() }}
	r, _ := NewReader(src, "p.csv", Options{})
	g, _ = GroupBy(context.Background(), r, "email")
	defer g.Close()
	got := groupsOf(t, g)
	if len(got) != 1 || !strings.HasPrefix(got[0], " error p.csv: recipients.group_by keeps the rows in a temporary file, which could not be written (is "+os.TempDir()+" full?): ") {
		t.Errorf("groups: %q", got)
	}
}
