package address

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestParseList(t *testing.T) {
	tests := []struct {
		in   string
		want []Mailbox
		err  string
	}{
		{in: "ivan@example.com", want: []Mailbox{{Addr: "ivan@example.com"}}},
		{in: "Petrov, Ivan <ivan@example.com>", want: []Mailbox{{Name: "Petrov, Ivan", Addr: "ivan@example.com"}}},
		{in: `"Ivan \"the Great\"" <ivan@example.com>`, want: []Mailbox{{Name: `Ivan "the Great"`, Addr: "ivan@example.com"}}},
		{in: "a@example.com, b@example.org", want: []Mailbox{{Addr: "a@example.com"}, {Addr: "b@example.org"}}},
		{in: "Иван <ivan@пример.рф>", want: []Mailbox{{Name: "Иван", Addr: "ivan@xn--e1afmkfd.xn--p1ai"}}},
		{in: "иван@example.com", want: []Mailbox{{Addr: "иван@example.com", UTF8: true}}},
		{in: `"a b"@example.com`, want: []Mailbox{{Addr: `"a b"@example.com`}}, err: `address "a b@example.com": the quoted part before the @ contains characters that are not allowed here`},
		{in: "ivan@example", err: `address "ivan@example": domain "example" has no dot`},
		{in: "ivan@-example.com", err: `address "ivan@-example.com": invalid domain "-example.com"`},
		{in: "ivan@[127.0.0.1]", err: `address "ivan@[127.0.0.1]": address literals ([1.2.3.4]) are not supported`},
		{in: "ivan@example.123", err: `address "ivan@example.123": invalid domain "example.123"`},
		{in: "a, b", err: `"a, b" has no @ (missing '@' or angle-addr)`},
	}
	for _, tt := range tests {
		got, err := ParseList(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseList(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseList(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestOne(t *testing.T) {
	for in, want := range map[string]string{
		"ivan@example.com":                     "",
		"Petrov, Ivan <ivan@example.com>":      "",
		"a@example.com, b@example.com":         "holds 2 addresses; put each address in a column of its own",
		`"0"<0@0.A>,`:                          `"\"0\"<0@0.A>," is more than one address (a comma?): put each address in a column of its own (expected single address, got ",")`,
		"G: evil@example.org;":                 "", // a group of one: one address; the header around it is parsed again
		"a@example.com,":                       `"a@example.com," is more than one address (a comma?): put each address in a column of its own (expected single address, got ",")`,
		"ivan@example.com>, <evil@example.org": `"ivan@example.com>, <evil@example.org" has a < or > out of place (expected comma)`,
	} {
		err := One(in)
		if got := ""; err != nil {
			got = err.Error()
			if got != want {
				t.Errorf("One(%q) = %q, want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("One(%q) passed, want %q", in, want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]struct {
		out     string
		changed bool
	}{
		"ivan@example.com":                 {"ivan@example.com", false},
		"  ivan@example.com ":              {"ivan@example.com", false},
		"\u200bivan@example.com\u00a0":     {"ivan@example.com", true},
		"Ivan\u00a0Petrov <i@example.com>": {"Ivan Petrov <i@example.com>", true},
		"\ufeffivan@exa\u00admple.com":     {"ivan@example.com", true},
	} {
		if out, changed := Clean(in); out != want.out || changed != want.changed {
			t.Errorf("Clean(%q) = %q, %v; want %q, %v", in, out, changed, want.out, want.changed)
		}
	}
}

func TestAtoms(t *testing.T) {
	for in, want := range map[string]bool{"Ivan Petrov": true, "O'Brien": true, "Petrov, Ivan": false, "a.b": false, `Tom "T"`: false} {
		if Atoms(in) != want {
			t.Errorf("Atoms(%q) = %v", in, !want)
		}
	}
}

// FuzzParseList: whatever the text, an accepted address is one SMTP can
// carry safely (no space, control character, angle bracket or anything
// that would end RCPT TO:<...> and start an ESMTP parameter), it reads
// back as itself, and a name and address written out as a mailbox parse
// back to the same mailbox.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"ivan@example.com", "Иван <ivan@пример.рф>", `"Petrov, Ivan" <ivan@example.com>`, "a@b.c, d@e.f",
		`"a> NOTIFY=NEVER"@b.com`, "x@y.z\r\nRCPT TO:<evil@x>", "g: a@b.c;", "<@route:a@b.c>", "a@[127.0.0.1]",
		"\u200bivan@example.com\u00a0", strings.Repeat("a", 70) + "@example.com",
		"<\x83@0.A>", // found by the fuzzer: a byte that is not UTF-8 was accepted in a local part
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		list, err := ParseList(v)
		if err != nil {
			return
		}
		for _, m := range list {
			if m.Addr == "" || strings.ContainsAny(m.Addr, " \t\r\n<>") || strings.ContainsFunc(m.Addr, unicode.IsControl) {
				t.Fatalf("ParseList(%q) accepted %q, which would break RCPT TO", v, m.Addr)
			}
			if !m.UTF8 && !isASCIIString(m.Addr) {
				t.Fatalf("%q is not ASCII but not flagged for SMTPUTF8", m.Addr)
			}
			again, err := ParseList(m.Addr)
			if err != nil || len(again) != 1 || again[0].Addr != m.Addr {
				t.Fatalf("%q (from %q) reads back as %v, %v", m.Addr, v, again, err)
			}
		}
	})
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
