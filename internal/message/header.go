package message

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/address"
)

// maxLine is the line length RFC 5322 §2.1.1 asks for, without CRLF.
const maxLine = 78

// foldField formats a header field from tokens that must each stay whole
// (words, encoded-words, addresses), separated by single spaces. It folds
// before a token that would cross maxLine; a single token longer than a line
// stands on a line of its own (RFC 5322 allows up to 998 octets).
func foldField(name string, tokens []string) []byte {
	b := make([]byte, 0, len(name)+2+16*len(tokens))
	b = append(b, name...)
	b = append(b, ':')
	lineLen := len(b)
	for i, tok := range tokens {
		if i > 0 && lineLen+1+len(tok) > maxLine {
			b = append(b, "\r\n"...)
			lineLen = 0
		}
		b = append(b, ' ')
		b = append(b, tok...)
		lineLen += 1 + len(tok)
	}
	return append(b, "\r\n"...)
}

// words splits s at single spaces, keeping runs of spaces with the word that
// follows, so that joining the words with one space gives s back and no fold
// ever leaves a line of only white space.
func words(s string) []string {
	parts := strings.Split(s, " ")
	out := parts[:0]
	pending := ""
	for _, p := range parts {
		if p == "" {
			pending += " "
			continue
		}
		out = append(out, pending+p)
		pending = ""
	}
	if pending != "" && len(out) > 0 {
		out[len(out)-1] += pending
	}
	return out
}

// looksEncoded reports text a reader could take for an encoded-word:
// RFC 2047 §5 has such text encoded itself, else a value like
// "=?utf-8?q?=0A?=Bcc: x@evil.example" is decoded by the reader into a
// line of its own. Encoded, it reads back as typed.
func looksEncoded(s string) bool { return strings.Contains(s, "=?") }

// wordBudget is the longest encoded-word for a field, so that the first one
// fits on the line after the field name (and never more than RFC 2047's 75).
func wordBudget(name string) int {
	return max(24, min(75, maxLine-len(name)-2))
}

// unstructured reports the fields whose values are free text (RFC 5322
// §3.6.5, and X- fields by convention): the only ones RFC 2047 lets
// encoded-words stand in for non-ASCII or over-long words.
func unstructured(name string) bool {
	switch name {
	case "Subject", "Comments", "Keywords", "Organization":
		return true
	}
	return strings.HasPrefix(name, "X-")
}

// CheckValue reports why the value of a field other than an address field
// could not be written. Structured fields (List-Unsubscribe, In-Reply-To,
// References, ...) are never encoded: an encoded-word there would be read
// literally, breaking a URL or an ID; so they must be ASCII, in words
// that fit a line.
func CheckValue(name, v string) error {
	if unstructured(name) {
		return nil
	}
	if !address.IsASCII(v) {
		return fmt.Errorf("non-ASCII text is allowed only in Subject, Comments, Keywords, Organization and X- headers")
	}
	if hasLongWord(v, 998-len(name)-2) {
		return fmt.Errorf("a word longer than a header line may be (998 octets) cannot be folded")
	}
	return nil
}

// valueTokens formats the value of a field other than an address field.
func valueTokens(name, v string) ([]string, error) {
	if err := CheckValue(name, v); err != nil {
		return nil, err
	}
	if unstructured(name) {
		return unstructuredTokens(v, wordBudget(name)), nil
	}
	return words(v), nil
}

// unstructuredTokens encodes an unstructured value (Subject, Comments, any
// other header): plain words when ASCII, else RFC 2047 encoded-words of at
// most budget octets, B or Q, whichever is shorter.
func unstructuredTokens(v string, budget int) []string {
	if address.IsASCII(v) && !hasLongWord(v, budget) && !looksEncoded(v) {
		return words(v)
	}
	q, b := 0, (len(v)+2)/3*4
	for i := 0; i < len(v); i++ {
		if qSafe(v[i]) {
			q++
		} else {
			q += 3
		}
	}
	if q <= b {
		return encodedWords(v, budget, 'q')
	}
	return encodedWords(v, budget, 'b')
}

// hasLongWord reports a word that could not be folded onto a line: such
// text is sent as encoded-words, which can be split anywhere.
func hasLongWord(s string, n int) bool {
	for _, w := range strings.Fields(s) {
		if len(w) > n {
			return true
		}
	}
	return false
}

// qSafe reports bytes that the Q encoding may leave as they are in any
// context, including a phrase (RFC 2047 §5 rule 3).
func qSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!*+-/", c) >= 0
}

// encodedWords splits v at character boundaries into encoded-words of at
// most budget octets each (RFC 2047 §2, §5).
func encodedWords(v string, budget int, enc byte) []string {
	const prefix = "=?utf-8?x?"
	room := budget - len(prefix) - 2
	var out []string
	var chunk strings.Builder
	size := 0
	flush := func() {
		if chunk.Len() == 0 {
			return
		}
		var body string
		if enc == 'b' {
			body = base64.StdEncoding.EncodeToString([]byte(chunk.String()))
		} else {
			body = qEncode(chunk.String())
		}
		out = append(out, "=?utf-8?"+string(enc)+"?"+body+"?=")
		chunk.Reset()
		size = 0
	}
	for _, r := range v {
		var n int
		if enc == 'b' {
			n = (chunk.Len()+utf8.RuneLen(r)+2)/3*4 - size
		} else {
			n = len(qEncode(string(r)))
		}
		if size+n > room {
			flush()
			if enc == 'b' {
				n = (utf8.RuneLen(r) + 2) / 3 * 4
			}
		}
		chunk.WriteRune(r)
		size += n
	}
	flush()
	return out
}

func qEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			b.WriteByte('_')
		case qSafe(c):
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// phraseTokens encodes a display name: as atoms when it is plain ASCII, a
// quoted-string when it has specials, B encoded-words otherwise.
func phraseTokens(name string, budget int) []string {
	if name == "" {
		return nil
	}
	if !address.IsASCII(name) || hasLongWord(name, budget-2) || looksEncoded(name) {
		return encodedWords(name, budget, 'b')
	}
	if address.Atoms(name) {
		return words(name)
	}
	quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	if hasLongWord(quoted, budget) {
		return encodedWords(name, budget, 'b') // the quoting made a word too long to fold
	}
	return words(quoted)
}

// addressTokens formats an address list for foldField.
func addressTokens(list []address.Mailbox, budget int) []string {
	var tokens []string
	for i, a := range list {
		tokens = append(tokens, phraseTokens(a.Name, budget)...)
		tok := "<" + a.Addr + ">"
		if a.Name == "" {
			tok = a.Addr
		}
		if i < len(list)-1 {
			tok += ","
		}
		tokens = append(tokens, tok)
	}
	return tokens
}

// paramTokens formats media type parameters for Content-Type and
// Content-Disposition. ASCII values that fit are quoted-strings; others use
// RFC 2231 percent-encoding with continuations, so no line gets too long and
// no encoded-word ends up inside a quoted string (which RFC 2047 §5 forbids).
func paramTokens(value string, params map[string]string) []string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tokens := []string{value}
	for _, k := range keys {
		v := params[k]
		if address.IsASCII(v) && len(k)+len(v) < 60 && !strings.ContainsAny(v, "\"\\\r\n") {
			tokens = append(tokens, fmt.Sprintf(`%s=%q`, k, v))
			continue
		}
		enc := url.PathEscape(v)
		// url.PathEscape leaves some characters RFC 2231 attribute-char
		// excludes; escape those too.
		enc = strings.NewReplacer("'", "%27", "*", "%2A", "(", "%28", ")", "%29", "=", "%3D", ":", "%3A", "@", "%40", ",", "%2C", ";", "%3B", "&", "%26", "+", "%2B", "$", "%24").Replace(enc)
		segs := splitPercentEncoded(enc, 40)
		for i, s := range segs {
			if i == 0 {
				s = "utf-8''" + s
			}
			if len(segs) == 1 {
				tokens = append(tokens, fmt.Sprintf("%s*=%s", k, s))
			} else {
				tokens = append(tokens, fmt.Sprintf("%s*%d*=%s", k, i, s))
			}
		}
	}
	for i := range tokens[:len(tokens)-1] {
		tokens[i] += ";"
	}
	return tokens
}

// splitPercentEncoded cuts s into pieces of about n octets without
// splitting a %XX escape or a UTF-8 sequence.
func splitPercentEncoded(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !percentBoundary(s, cut) {
			cut--
		}
		if cut == 0 {
			cut = n
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// percentBoundary reports whether s can be cut at i: not inside an escape,
// and not before a UTF-8 continuation byte (%80-%BF).
func percentBoundary(s string, i int) bool {
	if i >= 1 && s[i-1] == '%' || i >= 2 && s[i-2] == '%' {
		return false
	}
	if strings.HasPrefix(s[i:], "%") && len(s) >= i+3 {
		var c byte
		fmt.Sscanf(s[i+1:i+3], "%02X", &c)
		return c < 0x80 || c >= 0xC0
	}
	return true
}

// commonTypes fixes the types of the files people attach most, so that a
// letter does not depend on the machine's /etc/mime.types.
var commonTypes = map[string]string{
	".pdf": "application/pdf", ".txt": "text/plain", ".csv": "text/csv",
	".doc": "application/msword", ".xls": "application/vnd.ms-excel",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text", ".ods": "application/vnd.oasis.opendocument.spreadsheet",
	".zip": "application/zip", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".gif": "image/gif", ".html": "text/html", ".ics": "text/calendar",
}

// mediaType returns a Content-Type for a file name, by extension.
func mediaType(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i >= 0 {
		if t, ok := commonTypes[strings.ToLower(name[i:])]; ok {
			return t
		}
		if t := mime.TypeByExtension(strings.ToLower(name[i:])); t != "" {
			t, _, _ = strings.Cut(t, ";")
			return t
		}
	}
	return "application/octet-stream"
}
