package journal

import (
	"path/filepath"
	"testing"
)

// TestSettled: the journal offers a send its letters only when every
// letter at the destination is settled and made with the same template;
// each letter is taken by one row.
func TestSettled(t *testing.T) {
	const dest, made = "smtp:a:587", 0xabcdef01
	letterAt := func(name string, state State, fp uint64) Record {
		r := rec(name, state)
		r.Dest, r.FP, r.Made = dest, fp, made
		return r
	}
	for _, tt := range []struct {
		name          string
		extra         []Record
		resendUnknown bool
		want          int
	}{
		{name: "all delivered", want: 3},
		{name: "one failed, one unknown", extra: []Record{letterAt("d", Failed, 4), letterAt("e", EOD, 5)}, want: 5},
		{name: "unknown, with --resend-unknown", extra: []Record{letterAt("e", EOD, 5)}, resendUnknown: true},
		{name: "one deferred", extra: []Record{letterAt("d", Deferred, 4)}},
		{name: "one only tried", extra: []Record{letterAt("d", Attempt, 4)}},
		{name: "one made with another template", extra: []Record{func() Record { r := letterAt("d", Delivered, 4); r.Made = 7; return r }()}},
		{name: "recipients in different states", extra: []Record{func() Record {
			r := letterAt("d", Delivered, 4)
			r.Rejected = []Rejection{{Rcpt: "x@example.com", State: Failed, Code: 550}}
			return r
		}()}},
		{name: "a record older than destinations", extra: []Record{func() Record { r := letterAt("d", Delivered, 4); r.Dest = ""; return r }()}},
		{name: "another destination's deferred letter", extra: []Record{func() Record { r := letterAt("d", Deferred, 4); r.Dest = "maildir:/m"; return r }()}, want: 3},
		{name: "delivered elsewhere first, here after", extra: []Record{
			func() Record { r := letterAt("d", Delivered, 4); r.Dest = "maildir:/m"; return r }(),
			letterAt("d", Delivered, 4),
		}, want: 4},
		{name: "delivered elsewhere only", extra: []Record{func() Record { r := letterAt("d", Delivered, 4); r.Dest = "maildir:/m"; return r }()}, want: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Open(filepath.Join(t.TempDir(), "m.journal"))
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			for i, name := range []string{"a", "b", "c"} {
				j.Append(letterAt(name, Delivered, uint64(i+1)))
			}
			appendAll(t, j, tt.extra)
			s := j.Settled(dest, made, tt.resendUnknown)
			if s.Len() != tt.want {
				t.Fatalf("Len() = %d, want %d", s.Len(), tt.want)
			}
			if tt.want == 0 {
				return
			}
			if st, ok := s.Take(1); !ok || st != Delivered {
				t.Errorf("Take(1) = %q, %v", st, ok)
			}
			if _, ok := s.Take(1); ok {
				t.Error("the letter of row 1 was taken twice")
			}
			if _, ok := s.Take(99); ok {
				t.Error("a row without a letter took one")
			}
			if s.Taken() != 1 {
				t.Errorf("Taken() = %d", s.Taken())
			}
		})
	}
	// Records older than made keep 0: a made whose low 32 bits are 0
	// must not take them for its own.
	j, err := Open(filepath.Join(t.TempDir(), "old.journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	old := letterAt("a", Delivered, 1)
	old.Made = 0
	j.Append(old)
	if s := j.Settled(dest, 1<<32, false); s.Len() != 0 {
		t.Errorf("a made whose low 32 bits are 0 matched %d letters of an older version", s.Len())
	}
}
