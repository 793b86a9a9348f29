// Package address reads the mailboxes of address header fields (RFC 5322
// §3.4) and checks each the way SMTP will use it (RFC 5321 §4.1.2): net/mail
// alone accepts addresses no server would take (a trailing no-break space,
// a dotless domain) and drops the quotes that keep a local part from
// breaking out of RCPT TO ("a> NOTIFY=NEVER"@b.com becomes a parameter).
// Domains are returned in A-labels (IDNA); a local part that is not ASCII
// is flagged, since it needs SMTPUTF8 (RFC 6531).
package address

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Mailbox is one parsed, checked mailbox.
type Mailbox struct {
	Name string
	Addr string // local@domain, domain in A-labels: what goes into RCPT TO
	UTF8 bool   // the local part is not ASCII: needs SMTPUTF8
}

// Domain returns the part of the address after the @.
func (m Mailbox) Domain() string {
	return m.Addr[strings.LastIndexByte(m.Addr, '@')+1:]
}

// Limits from RFC 5321 §4.5.3.1, and one for a whole header value.
const (
	maxLocal  = 64
	maxDomain = 253
	maxPath   = 254 // 256 with the angle brackets
	maxList   = 16 << 10
)

// invisible reports characters that spreadsheets and web pages leave in
// cells (zero-width spaces, BOMs, soft hyphens, direction marks). They are
// never part of an address.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r)
}

// Clean removes invisible characters and turns Unicode spaces (such as
// no-break space) into plain ones, then trims. It reports whether it
// changed anything but the surrounding plain spaces.
func Clean(v string) (string, bool) {
	plain := true // printable ASCII: nothing to clean but the ends
	for i := 0; i < len(v) && plain; i++ {
		plain = v[i] >= ' ' && v[i] < 0x7f
	}
	if plain {
		return strings.TrimSpace(v), false
	}
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

// oneMailbox splits `display name <addr>` with nothing after the address,
// the shape a name with a comma in it ("Petrov, Ivan") needs: one < and
// one >, the > last.
func oneMailbox(v string) (name, addr string, ok bool) {
	i := strings.IndexByte(v, '<')
	if i < 0 || !strings.HasSuffix(v, ">") || strings.Count(v, "<") != 1 || strings.Count(v, ">") != 1 {
		return "", "", false
	}
	return v[:i], v[i+1 : len(v)-1], true
}

// ParseList parses an address header value and checks every address.
func ParseList(v string) ([]Mailbox, error) {
	if len(v) > maxList {
		return nil, fmt.Errorf("value is %d bytes, over the limit of %d", len(v), maxList)
	}
	if !utf8.ValidString(v) {
		// Files are decoded to UTF-8 before this; a stray byte here would
		// reach RCPT TO as it is.
		return nil, errors.New("is not valid text (a byte that is not UTF-8)")
	}
	// "Name <addr>" where the name holds no address is one mailbox, the name
	// all of it: net/mail would read "Petrov, Ivan <...>" as two entries and
	// ", <...>" as an address whose name is lost.
	var list []*mail.Address
	var err error
	if rawName, addr, ok := oneMailbox(v); ok && !strings.Contains(rawName, "@") {
		name := strings.TrimSpace(rawName)
		if unq, ok := Unquote(name); ok {
			name = unq
		}
		list = []*mail.Address{{Name: name, Address: strings.TrimSpace(addr)}}
	} else if list, err = mail.ParseAddressList(v); err != nil {
		return nil, parseError(v, err)
	}
	out := make([]Mailbox, 0, len(list))
	for _, a := range list {
		addr, utf8, err := check(a.Address)
		if err != nil {
			return nil, err
		}
		out = append(out, Mailbox{Name: a.Name, Addr: addr, UTF8: utf8})
	}
	return out, nil
}

// One checks that v is exactly one mailbox on its own: no list comma, no
// group. net/mail reads "a@b.c," and "g: a@b.c;" as one address, but next
// to other text in a header the comma starts another.
func One(v string) error {
	list, err := ParseList(v)
	if err != nil {
		return err
	}
	if len(list) != 1 {
		return fmt.Errorf("holds %d addresses; put each address in a column of its own", len(list))
	}
	if _, err := mail.ParseAddress(v); err != nil && !isOneMailbox(v) {
		return parseError(v, err)
	}
	return nil
}

func isOneMailbox(v string) bool {
	_, _, ok := oneMailbox(v)
	return ok
}

// parseError says what net/mail found wrong with v in words a person can
// act on, its own words after.
func parseError(v string, err error) error {
	detail := strings.TrimPrefix(err.Error(), "mail: ")
	var what string
	switch {
	case !strings.Contains(v, "@"):
		what = "has no @"
	case strings.Count(v, "@") > strings.Count(v, ",")+1 && !strings.ContainsAny(v, `"<`):
		what = "has more than one @"
	case strings.ContainsAny(v, ":;") && strings.Contains(detail, "expected"):
		what = "is a group (name: addresses;), not one address"
	case strings.Count(v, "<") != strings.Count(v, ">") || strings.Count(v, "<") > 1 && !strings.Contains(v, ","):
		what = "has a < or > out of place"
	case strings.HasPrefix(detail, "expected single address"):
		what = "is more than one address (a comma?): put each address in a column of its own"
	case detail == "expected comma" && strings.ContainsAny(v, "<>"):
		what = "has a < or > out of place"
	case detail == "expected comma":
		what = "has a space or other text inside it, or two addresses without a comma between them"
	case detail == "unclosed angle-addr":
		what = "has a < without its >"
	case detail == "no angle-addr" || strings.HasPrefix(detail, "missing '@' or angle-addr"):
		what = "is not an address (a name without <address>?)"
	case strings.HasPrefix(detail, "missing @ in addr-spec"):
		what = "has no @ inside its <...>"
	default:
		what = "is not a valid address"
	}
	return fmt.Errorf("%q %s (%s)", v, what, detail)
}

// Unquote returns the content of an RFC 5322 quoted-string.
func Unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s[1 : len(s)-1]), true
}

// check validates an addr-spec that net/mail has parsed and returns the
// form to use on the wire. net/mail drops the quotes of a quoted local
// part and accepts domains no server would, so both halves are checked here.
func check(a string) (addr string, needsUTF8 bool, err error) {
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
	return addr, !IsASCII(local), nil
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

// Atoms reports whether a display name is atoms separated by spaces (RFC
// 5322 §3.2.3), which a phrase may hold without quotes.
func Atoms(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c != ' ' && !isAtext(c) {
			return false
		}
	}
	return true
}

// isAtext reports RFC 5322 atext characters.
func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// IsASCII reports whether s is ASCII only: an address that is not needs
// SMTPUTF8 (RFC 6531), a header field that is not is encoded (RFC 2047).
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
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
	if !IsASCII(d) {
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
