// Package remote makes text that came from outside safe to show and to
// store: a server's reply, a line of a bounce report, a mailbox's folder
// name. Such text is data: a terminal must not act on it (clear the
// screen, set the window's title, reorder what it shows), and it must
// never carry back a secret the server was sent.
package remote

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// Text returns s with everything a terminal would act on made visible:
// control characters (C0 but tab and line breaks, DEL, C1) and the
// bidirectional controls written as Go escapes (\x1b, \u202e); tabs and
// line breaks as spaces; invalid UTF-8 as U+FFFD. Text that needs none of
// this is returned as it is.
func Text(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		case r >= 0x80 && r < 0xa0, bidi(r):
			b.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				b.WriteByte(hex[(r>>shift)&0xf])
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

const hex = "0123456789abcdef"

// clean reports whether s needs no change.
func clean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r < 0xa0 || bidi(r) {
			return false
		}
		i += size
	}
	return true
}

// bidi reports the characters that change the order text is shown in:
// the marks, embeddings, overrides and isolates (Unicode's Bidi_Control),
// and the Arabic letter mark.
func bidi(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Hide returns text with every secret in it, and the base64 forms of each
// (padded and not), replaced by ***: a server that repeats the password or
// the AUTH argument in its refusal must not get them shown, logged or
// traced. Empty secrets are ignored.
func Hide(text string, secrets ...string) string {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s))} {
			if len(form) > 0 && strings.Contains(text, form) {
				text = strings.ReplaceAll(text, form, "***")
			}
		}
	}
	return text
}
