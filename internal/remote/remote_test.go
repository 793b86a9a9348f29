package remote

import (
	"encoding/base64"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"250 2.0.0 Ok: queued as 4XYZ", "250 2.0.0 Ok: queued as 4XYZ"},
		{"Пользователь не найден", "Пользователь не найден"},
		{"clear \x1b[2J\x1b[H screen", `clear \x1b[2J\x1b[H screen`},
		{"title \x1b]0;owned\x07", `title \x1b]0;owned\x07`},
		{"C1 \u009b31m csi", `C1 \u009b31m csi`},
		{"del \x7f nul \x00", `del \x7f nul \x00`},
		{"two\nlines\r\nand\ttab", "two lines  and tab"},
		{"txt.exe\u202egpj", `txt.exe\u202egpj`},
		{"isolate \u2066x\u2069 mark \u200f", `isolate \u2066x\u2069 mark \u200f`},
		{"bad \xff\xfe utf-8", "bad \ufffd\ufffd utf-8"},
		{"emoji 😀 and é", "emoji 😀 and é"},
	} {
		got := Text(tt.in)
		if got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzText: whatever comes in, what goes out is valid UTF-8 with no
// control character but space, no bidirectional control, and cleaning it
// again changes nothing.
func FuzzText(f *testing.F) {
	for _, s := range []string{"ok", "\x1b[31mred", "\u202e", "\xff", "a\r\nb", "\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Text(%q) = %q: not UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || bidi(r) {
				t.Fatalf("Text(%q) = %q: has %U", s, out, r)
			}
		}
		if again := Text(out); again != out {
			t.Fatalf("Text not stable: %q then %q", out, again)
		}
	})
}

func TestHide(t *testing.T) {
	const pass = "s3cret-pw"
	plain := base64.StdEncoding.EncodeToString([]byte("\x00me\x00" + pass))
	for _, tt := range []struct {
		text    string
		secrets []string
		want    string
	}{
		{"535 5.7.8 bad password s3cret-pw for me", []string{pass}, "535 5.7.8 bad password *** for me"},
		{"535 5.7.8 you sent " + plain, []string{pass, plain}, "535 5.7.8 you sent ***"},
		{"535 5.7.8 " + base64.StdEncoding.EncodeToString([]byte(pass)), []string{pass}, "535 5.7.8 ***"},
		{"535 5.7.8 " + base64.RawStdEncoding.EncodeToString([]byte(pass)), []string{pass}, "535 5.7.8 ***"},
		{"535 nothing to hide", []string{pass, ""}, "535 nothing to hide"},
		{"empty secrets change nothing", []string{""}, "empty secrets change nothing"},
	} {
		if got := Hide(tt.text, tt.secrets...); got != tt.want {
			t.Errorf("Hide(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}
