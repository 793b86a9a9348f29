package journal

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/letter"
)

func TestAppendRecord(t *testing.T) {
	key := letter.NamedKey("course", "ann")
	at := time.Date(2026, 11, 26, 14, 0, 0, 123456789, time.UTC)
	for _, r := range []Record{
		{},
		{Time: at, Key: key, Line: 2, Rcpt: []string{"ann@example.com"}, MessageID: "<k@example.org>", Attempt: 1, State: Attempt},
		{Time: at.Truncate(time.Second), Key: key, Dest: "smtp:mail.example.org:587", Test: "me@example.org", Account: "Кафедра", Line: 3, Rcpt: []string{"a@x", "б@пример.рф"}, Part: true,
			FP: 1<<64 - 1, Made: 42, MessageID: "<k@example.org>", Attempt: 3, State: Delivered, Phase: "EOD", Code: 250, Enhanced: "2.0.0",
			Text: "ok <queued> as 4XYZ & more", Millis: 17, Rejected: []Rejection{
				{Rcpt: "bob@example.com", State: Failed, Code: 550, Enhanced: "5.1.1", Text: "no such user"},
				{Rcpt: "eve@example.com", Code: 450, Text: ""},
			}, Report: "<r@example.net>", Copy: "Sent"},
		{Time: at.In(time.FixedZone("MSK", 3*3600)), Key: key, Rcpt: []string{}, State: Unknown,
			Text: "quotes \" backslash \\ controls \x00\x01\b\f\n\r\t\x1f\x7f separators \u2028\u2029 bad \xff\xfe utf-8 é ё 😀"},
		{Time: at, Key: key, State: Bounced, Code: -1, Attempt: -2, Line: -3, Millis: -4},
	} {
		sameAsJSON(t, &r)
	}
}

// sameAsJSON checks that appendRecord writes r as encoding/json would read
// it back: the same record, field for field, as json.Marshal's. Bytes are
// not compared: Go releases differ in how they write invalid UTF-8
// (1.26 as \ufffd, 1.27 as the character itself), and both mean U+FFFD.
func sameAsJSON(t *testing.T, r *Record) {
	t.Helper()
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got := appendRecord(nil, r)
	if !json.Valid(got) || !utf8.Valid(got) {
		t.Fatalf("appendRecord wrote invalid JSON or UTF-8: %q", got)
	}
	var a, b map[string]any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("appendRecord:\n got %q\nwant %q", got, want)
	}
}

// TestAppendStringBytes pins the bytes our encoder writes, from its own
// rules: control characters, quotes, backslashes, <, >, &, U+2028 and
// U+2029 escaped; invalid UTF-8 written as U+FFFD itself; the rest as is.
func TestAppendStringBytes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", `""`},
		{"ok <queued> & more", `"ok \u003cqueued\u003e \u0026 more"`},
		{"q\" b\\ \x00\x01\b\f\n\r\t\x1f\x7f", `"q\" b\\ \u0000\u0001\b\f\n\r\t\u001f` + "\x7f" + `"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"bad \xff\xfe end", "\"bad \uFFFD\uFFFD end\""},
		{"é ё 😀", `"é ё 😀"`},
	} {
		if got := string(appendString(nil, tt.in)); got != tt.want {
			t.Errorf("appendString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzAppendRecord holds appendRecord to encoding/json's meaning for any
// text the records carry (a server's reply, an address, a folder's name).
func FuzzAppendRecord(f *testing.F) {
	f.Add("ok", "ann@example.com", "<k@x>", "2.0.0")
	f.Add("\x00<>&\u2028\xff\"\\", "б@пример.рф", "", "\t")
	f.Fuzz(func(t *testing.T, text, rcpt, msgid, enhanced string) {
		r := Record{Time: time.Unix(1_800_000_000, 5).UTC(), Key: letter.NamedKey("c", rcpt), Dest: text, Account: enhanced, Rcpt: []string{rcpt, text},
			MessageID: msgid, State: State(text), Phase: rcpt, Enhanced: enhanced, Text: text,
			Rejected: []Rejection{{Rcpt: rcpt, State: State(enhanced), Text: text, Enhanced: msgid}}, Report: msgid, Copy: text}
		sameAsJSON(t, &r)
	})
}

func BenchmarkAppendRecord(b *testing.B) {
	r := Record{Time: time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC), Key: letter.NamedKey("course", "ann"), Dest: "smtp:127.0.0.1:2626", Line: 2, Rcpt: []string{"student0@example.com"},
		FP: 1234567890123, Made: 987654321, MessageID: "<0123456789abcdef@example.org>", Attempt: 1, State: Delivered, Code: 250, Enhanced: "2.0.0", Text: "Ok: queued as 4XYZ", Millis: 3}
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(r)
		}
	})
	b.Run("appendRecord", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendRecord(buf[:0], &r)
		}
	})
}
