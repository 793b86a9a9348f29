package recipients

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// Encoding names a character encoding of a recipients file.
type Encoding string

// The encodings the reader understands. Auto means: a BOM decides, else valid
// UTF-8 is UTF-8, else the Cyrillic single-byte encoding that fits the text.
const (
	Auto        Encoding = "auto"
	UTF8        Encoding = "utf-8"
	Windows1251 Encoding = "windows-1251"
	KOI8R       Encoding = "koi8-r"
	UTF16       Encoding = "utf-16"
)

// ParseEncoding accepts the names users write for the supported encodings.
func ParseEncoding(name string) (Encoding, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "auto":
		return Auto, nil
	case "utf-8", "utf8":
		return UTF8, nil
	case "windows-1251", "cp1251", "win1251", "windows1251":
		return Windows1251, nil
	case "koi8-r", "koi8r", "koi8":
		return KOI8R, nil
	case "utf-16", "utf16", "utf-16le", "utf-16be":
		return UTF16, nil
	}
	return "", fmt.Errorf("unknown encoding %q (want auto, utf-8, windows-1251, koi8-r or utf-16)", name)
}

// UnmarshalText reads an encoding's name as ParseEncoding does.
func (e *Encoding) UnmarshalText(text []byte) error {
	enc, err := ParseEncoding(string(text))
	if err != nil {
		return err
	}
	*e = enc
	return nil
}

// Delimiter is a field delimiter as a config names it; zero means detect.
type Delimiter rune

// UnmarshalText reads a delimiter as ParseDelimiter does.
func (d *Delimiter) UnmarshalText(text []byte) error {
	r, err := ParseDelimiter(string(text))
	if err != nil {
		return err
	}
	*d = Delimiter(r)
	return nil
}

// String names the delimiter as messages do, or "auto".
func (d Delimiter) String() string {
	if d == 0 {
		return "auto"
	}
	return DelimiterName(rune(d))
}

// ParseDelimiter accepts "auto" (or empty), ",", ";" and tab (written as a
// tab character, `\t` or "tab"). Zero means auto.
func ParseDelimiter(s string) (rune, error) {
	switch s {
	case "", "auto":
		return 0, nil
	case ",", ";", "\t", `\t`, "tab", "|":
		if s == `\t` || s == "tab" {
			return '\t', nil
		}
		return rune(s[0]), nil
	}
	return 0, fmt.Errorf("unknown delimiter %q (want auto, \",\", \";\" or tab)", s)
}

func (e Encoding) decoder() encoding.Encoding {
	switch e {
	case Windows1251:
		return charmap.Windows1251
	case KOI8R:
		return charmap.KOI8R
	case UTF16:
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	}
	return nil
}

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// sniff picks the encoding of a file from its first bytes. It reports how
// many bytes of UTF-8 BOM to skip, and whether the choice was a guess.
func sniff(head []byte, want Encoding) (enc Encoding, skip int, guessed bool) {
	switch {
	case bytes.HasPrefix(head, bomUTF8):
		if want == Auto || want == UTF8 {
			return UTF8, len(bomUTF8), false
		}
	case bytes.HasPrefix(head, bomUTF16LE), bytes.HasPrefix(head, bomUTF16BE):
		if want == Auto || want == UTF16 {
			return UTF16, 0, false // the UTF-16 decoder consumes its BOM
		}
	}
	if want != Auto {
		return want, 0, false
	}
	if validUTF8Prefix(head) {
		return UTF8, 0, false
	}
	return guessCyrillic(head), 0, true
}

// validUTF8Prefix is utf8.Valid, except that a rune cut off by the end of the
// sample does not count against it.
func validUTF8Prefix(b []byte) bool {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return true
		}
		r, _ := utf8.DecodeLastRune(b)
		if r != utf8.RuneError {
			return false
		}
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}

// guessCyrillic tells Windows-1251 from KOI8-R. Both put the Cyrillic letters
// in 0xC0-0xFF, but with the cases swapped: Windows-1251 has lower case in
// 0xE0-0xFF, KOI8-R in 0xC0-0xDF. Running text is mostly lower case.
func guessCyrillic(b []byte) Encoding {
	var low, high int
	for _, c := range b {
		switch {
		case c >= 0xE0:
			high++
		case c >= 0xC0:
			low++
		}
	}
	if low > high {
		return KOI8R
	}
	return Windows1251
}

// sniffDelimiter picks the delimiter that occurs most often, outside quotes,
// in the header line. A header with a single field has none: use ','.
func sniffDelimiter(line []byte) rune {
	counts := map[byte]int{}
	quoted := false
	for _, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ',' || c == ';' || c == '\t':
			counts[c]++
		}
	}
	best, n := byte(','), 0
	for _, c := range []byte{',', ';', '\t'} {
		if counts[c] > n {
			best, n = c, counts[c]
		}
	}
	return rune(best)
}

// DelimiterName is how messages spell a delimiter.
func DelimiterName(r rune) string {
	if r == '\t' {
		return "tab"
	}
	return fmt.Sprintf("%q", r)
}
