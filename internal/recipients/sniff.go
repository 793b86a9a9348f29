package recipients

import (
	"bytes"
	"fmt"
	"strings"
	gounicode "unicode"
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
// many bytes of UTF-8 BOM to skip, whether the choice was a guess, and
// whether the guess was weak (guessCyrillic).
func sniff(head []byte, want Encoding) (enc Encoding, skip int, guessed, weak bool) {
	switch {
	case bytes.HasPrefix(head, bomUTF8):
		if want == Auto || want == UTF8 {
			return UTF8, len(bomUTF8), false, false
		}
	case bytes.HasPrefix(head, bomUTF16LE), bytes.HasPrefix(head, bomUTF16BE):
		if want == Auto || want == UTF16 {
			return UTF16, 0, false, false // the UTF-16 decoder consumes its BOM
		}
	}
	if want != Auto {
		return want, 0, false, false
	}
	if validUTF8Prefix(head) {
		return UTF8, 0, false, false
	}
	enc, weak = guessCyrillic(head)
	return enc, 0, true, weak
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

// guessCyrillic tells Windows-1251 from KOI8-R. Both put the Cyrillic
// letters in 0xC0-0xFF, in different orders, so each reading of a file is
// Russian and the other a jumble of the same letters. Which letters follow
// which tells them apart whatever the case: all-caps surnames (ИВАНОВ) in
// KOI8-R's lower-case range fooled a count of cases. close says the guess
// is weak: the two readings scored within a fifth of each other, or the
// text has too few letters to tell.
func guessCyrillic(b []byte) (enc Encoding, close bool) {
	w := bigramScore(b, charmap.Windows1251)
	k := bigramScore(b, charmap.KOI8R)
	enc = Windows1251
	if k > w {
		enc = KOI8R
	}
	hi, lo := max(w, k), min(w, k)
	return enc, hi < 8 || lo*5 > hi*4
}

// bigramScore is how many pairs of letters in b, read with cm and
// lower-cased, are among Russian's most frequent.
func bigramScore(b []byte, cm *charmap.Charmap) int {
	score := 0
	var prev rune
	for _, c := range b {
		r := gounicode.ToLower(cm.DecodeByte(c))
		if r == 'ё' {
			r = 'е'
		}
		if r >= 'а' && r <= 'я' && prev != 0 && russianBigrams[[2]rune{prev, r}] {
			score++
		}
		if r >= 'а' && r <= 'я' {
			prev = r
		} else {
			prev = 0
		}
	}
	return score
}

// russianBigrams are the most frequent letter pairs of Russian text and
// names (patronymics: -ович, -овна; surnames: -ов, -ева, -ин, -ский).
var russianBigrams = func() map[[2]rune]bool {
	m := map[[2]rune]bool{}
	for _, p := range strings.Fields(`ст но то на ен ов ни ра во ко ро ре ал по пр ли ор ер ос го ва ет од не ол те ка от ан ел он ин ла
		ес ом ат ит ле де ти та ло ве ль ск ны ем ой ар ми ак ри тв ог ам ев ся ил ир из ей ма ия ие же че
		да за об ед вы ых ые ий ая ое ть ег ту ру ну ич вн ье ди ав ив ек ик юр ус ке ки се ме мо ьи ьм ви
		ай рь ех ок ук ую ют ющ ущ ещ ис ас вл ге им йн ья рг рк рм рн рс рт лл мм нн сс тт вс бо бе бр ба
		бу зо зе зн зи ку лю лу мы му па пе пи пу`) {
		r := []rune(p)
		m[[2]rune{r[0], r[1]}] = true
	}
	return m
}()

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

// OtherCyrillic is the Cyrillic 8-bit encoding e is not: the other guess
// of a file that could be either (windows-1251 or koi8-r).
func (e Encoding) OtherCyrillic() Encoding {
	if e == KOI8R {
		return Windows1251
	}
	return KOI8R
}
