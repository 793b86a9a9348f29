package template

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// address is one parsed, checked mailbox.
type address struct {
	Name string
	Addr string // local@domain, domain in A-labels: what goes into RCPT TO
	UTF8 bool   // the local part is not ASCII: needs SMTPUTF8
}

// Limits from RFC 5321 §4.5.3.1.
const (
	maxLocal  = 64
	maxDomain = 253
	maxPath   = 254 // 256 with the angle brackets
	maxValue  = 16 << 10
)

// invisible reports characters that spreadsheets and web pages leave in
// cells (zero-width spaces, BOMs, soft hyphens, direction marks). They are
// never part of an address.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r)
}

// cleanAddressValue removes invisible characters and turns Unicode spaces
// (such as no-break space) into plain ones. It reports whether it changed v.
func cleanAddressValue(v string) (string, bool) {
	changed := false
	clean := strings.Map(func(r rune) rune {
		switch {
		case invisible(r):
			changed = true
			return -1
		case r != ' ' && unicode.IsSpace(r):
			changed = true
			return ' '
		}
		return r
	}, v)
	return strings.TrimSpace(clean), changed
}

// oneMailbox matches `display name <addr>` with nothing after the address,
// the shape a name with a comma in it ("Petrov, Ivan") needs.
var oneMailbox = regexp.MustCompile(`^([^<>]*)<([^<>]*)>$`)

// parseAddressList parses an address header value and checks every address.
func parseAddressList(v string) ([]address, error) {
	if len(v) > maxValue {
		return nil, fmt.Errorf("value is %d bytes, over the limit of %d", len(v), maxValue)
	}
	// "Name <addr>" where the name holds no address is one mailbox, the name
	// all of it: net/mail would read "Petrov, Ivan <...>" as two entries and
	// ", <...>" as an address whose name is lost.
	var list []*mail.Address
	var err error
	if m := oneMailbox.FindStringSubmatch(v); m != nil && !strings.Contains(m[1], "@") {
		name := strings.TrimSpace(m[1])
		if unq, ok := unquote(name); ok {
			name = unq
		}
		list = []*mail.Address{{Name: name, Address: strings.TrimSpace(m[2])}}
	} else if list, err = mail.ParseAddressList(v); err != nil {
		return nil, fmt.Errorf("invalid address list %q: %v", v, strings.TrimPrefix(err.Error(), "mail: "))
	}
	out := make([]address, 0, len(list))
	for _, a := range list {
		addr, utf8, err := checkAddress(a.Address)
		if err != nil {
			return nil, err
		}
		out = append(out, address{Name: a.Name, Addr: addr, UTF8: utf8})
	}
	return out, nil
}

func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s[1 : len(s)-1]), true
}

// checkAddress validates an addr-spec that net/mail has parsed and returns
// the form to use on the wire. net/mail drops the quotes of a quoted local
// part and accepts domains no server would, so both halves are checked here.
func checkAddress(a string) (addr string, needsUTF8 bool, err error) {
	if a == "" {
		return "", false, errors.New("empty address (is the address field empty?)")
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return "", false, fmt.Errorf("address %q has no @", a)
	}
	local, domain := a[:at], a[at+1:]
	if local == "" {
		return "", false, fmt.Errorf("address %q has nothing before the @", a)
	}
	if len(local) > maxLocal {
		return "", false, fmt.Errorf("address %q: the part before the @ is %d octets, over the limit of %d", a, len(local), maxLocal)
	}
	if !dotAtom(local) {
		// A quoted local part. Quote it again on the way out, and refuse
		// what could break out of the angle brackets of RCPT TO.
		if strings.ContainsAny(local, "<> \\\"") || strings.ContainsFunc(local, unicode.IsControl) {
			return "", false, fmt.Errorf("address %q: the quoted part before the @ contains characters that are not allowed here", a)
		}
		local = `"` + local + `"`
	}
	ascii, err := checkDomain(domain)
	if err != nil {
		return "", false, fmt.Errorf("address %q: %w", a, err)
	}
	addr = local + "@" + ascii
	if len(addr) > maxPath {
		return "", false, fmt.Errorf("address %q is %d octets, over the limit of %d", a, len(addr), maxPath)
	}
	return addr, !isASCII(local), nil
}

// dotAtom reports an RFC 5322 dot-atom, allowing UTF-8 (RFC 6532).
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '.':
		case r >= utf8.RuneSelf:
			if r == utf8.RuneError || !unicode.IsGraphic(r) || unicode.IsSpace(r) {
				return false
			}
		case !isAtext(byte(r)):
			return false
		}
	}
	return true
}

// checkDomain returns the domain in A-labels after checking that it is a
// host name mail can be sent to: LDH labels, at least two of them.
func checkDomain(d string) (string, error) {
	if d == "" {
		return "", errors.New("no domain after the @")
	}
	if strings.HasPrefix(d, "[") {
		return "", errors.New("address literals ([1.2.3.4]) are not supported")
	}
	ascii := d
	if !isASCII(d) {
		var err error
		if ascii, err = idna.Lookup.ToASCII(d); err != nil {
			return "", fmt.Errorf("invalid international domain %q", d)
		}
	}
	if len(ascii) > maxDomain {
		return "", fmt.Errorf("domain is over %d octets", maxDomain)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("domain %q has no dot", d)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("invalid domain %q", d)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("invalid domain %q", d)
			}
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("invalid domain %q", d)
	}
	return ascii, nil
}

// addressTokens formats an address list for foldField.
func addressTokens(list []address, budget int) []string {
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

// controlChar finds a character that must never reach a header: C0 and C1
// controls (tab aside), DEL, and the Unicode line and paragraph separators.
func controlChar(s string) (rune, int, bool) {
	col := 0
	for _, r := range s {
		col++
		if r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return r, col, true
		}
	}
	return 0, 0, false
}
