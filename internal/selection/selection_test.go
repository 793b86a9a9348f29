package selection

import (
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/recipients"
)

func rows(t *testing.T, csv string) []*recipients.Record {
	t.Helper()
	r, err := recipients.NewReader(strings.NewReader(csv), "p.csv", recipients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*recipients.Record
	for {
		rec, err := r.Read()
		if rec == nil {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

func TestMatch(t *testing.T) {
	recs := rows(t, "name,group,email\nAnn,ИВТ-21,a@x.org\nBob,ИВТ-22,b@x.org\nCid, ИВТ-21 ,c@x.org\nDan,ПМ-21,d@x.org\n")
	tests := []struct {
		rows  string
		where []string
		want  string // names selected
	}{
		{"", nil, "Ann Bob Cid Dan"},
		{"2-3,5", nil, "Ann Bob Dan"},
		{"4", nil, "Cid"},
		{"", []string{"group=ИВТ-21"}, "Ann Cid"},
		{"", []string{"group!=ИВТ-21"}, "Bob Dan"},
		{"", []string{"group~^ИВТ"}, "Ann Bob Cid"},
		{"", []string{"group~^ИВТ", "name!=Bob"}, "Ann Cid"},
		{"3-5", []string{"group~21$"}, "Cid Dan"},
		{"", []string{"email=a@x.org"}, "Ann"},
	}
	for _, tt := range tests {
		s, err := Parse(tt.rows, tt.where)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Bind("p.csv", recs[0].Header()); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			if s.Match(r) {
				got = append(got, r.Fields[0])
			}
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("--rows %q --where %q: %v, want %s", tt.rows, tt.where, got, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		rows  string
		where []string
		err   string
	}{
		{"1-5", nil, `--rows 1-5: "1-5": line 1 is the header`},
		{"9-3", nil, `--rows 9-3: "9-3": the range ends before it starts`},
		{"a", nil, `--rows a: "a": want line numbers`},
		{"", []string{"group"}, "--where group: want column=value"},
		{"", []string{"=x"}, "--where =x: no column before ="},
		{"", []string{"name~("}, "--where name~(: the regular expression: error parsing regexp"},
	} {
		if _, err := Parse(tt.rows, tt.where); err == nil || !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("Parse(%q, %q) = %v, want %q", tt.rows, tt.where, err, tt.err)
		}
	}
	s, _ := Parse("", []string{"grp=1"})
	if err := s.Bind("p.csv", []string{"name", "group"}); err == nil || err.Error() != `--where grp=1: p.csv has no column "grp" (it has name, group)` {
		t.Errorf("Bind: %v", err)
	}
}

// FuzzParse: Parse never panics, and what it accepts it says back in a
// form it accepts again, meaning the same.
func FuzzParse(f *testing.F) {
	f.Add("2-50,75", "group=ИВТ-21")
	f.Add("", "name~^И")
	f.Add("3", "a!=b")
	f.Fuzz(func(t *testing.T, rows, where string) {
		s, err := Parse(rows, []string{where})
		if err != nil {
			return
		}
		again := s.String()
		if s.All() || !strings.HasPrefix(again, "--") {
			return
		}
		var r2 string
		var w2 []string
		for _, part := range strings.Split(again, " --")[0:] {
			part = strings.TrimPrefix(part, "--")
			if v, ok := strings.CutPrefix(part, "rows "); ok {
				r2 = v
			} else if v, ok := strings.CutPrefix(part, "where "); ok {
				w2 = append(w2, v)
			}
		}
		if len(w2) > 1 || strings.Contains(" "+where, " --") {
			return // the expression itself held " --", or began with "--": this splitting cannot tell it from the next flag
		}
		s2, err := Parse(r2, w2)
		if err != nil || s2.String() != again {
			t.Fatalf("%q %q: said back as %q, which parses to %v, %v", rows, where, again, s2, err)
		}
	})
}
