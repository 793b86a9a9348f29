// Package smtp is the client side of SMTP (RFC 5321) for sending many
// letters over one session, at the speed the server and the network
// allow: PIPELINING (RFC 2920) sends a transaction's commands in one
// write, CHUNKING (RFC 3030) its message too, so that a letter costs one
// round trip; without CHUNKING, the next transaction's commands go with
// the end of a message, which saves that round trip too. DSN (RFC 3461)
// asks for delivery reports that name the letter; SIZE (RFC 1870) is
// respected. Every read and write has a deadline, and the point of no
// return of a transaction (the final dot, or BDAT LAST) is the caller's
// to record before it is passed. Explain says what a reply means, for
// people.
package smtp

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/remote"
)

// Reply is a server's reply: its code, its enhanced status code (RFC
// 3463) when it has one, and its text, lines joined by spaces.
type Reply struct {
	Code     int
	Enhanced string // "5.1.1"; "" when the server gives none
	Text     string // without the enhanced code
}

// Error makes a reply an error: one that was not the reply hoped for.
func (r *Reply) Error() string {
	if r.Enhanced != "" {
		return fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text)
	}
	return fmt.Sprintf("%d %s", r.Code, r.Text)
}

// parseReply makes a Reply of a code and the lines of its text, as
// net/textproto reads them (joined by newlines). Each line may start
// with the enhanced code; the first line's is kept.
func parseReply(code int, msg string) *Reply {
	r := &Reply{Code: code}
	lines := strings.Split(msg, "\n")
	for i, line := range lines {
		if enh, rest, ok := cutEnhanced(line, code); ok {
			if r.Enhanced == "" {
				r.Enhanced = enh
			}
			lines[i] = rest
		}
	}
	// A reply's text is the server's: data, never terminal commands.
	r.Text = strings.TrimSpace(remote.Text(strings.Join(lines, " ")))
	return r
}

// cutEnhanced splits "5.1.1 text" when the enhanced code's class is the
// reply's (RFC 3463: 2, 4 or 5, the first digit of the reply code).
func cutEnhanced(line string, code int) (enh, rest string, ok bool) {
	f, rest, _ := strings.Cut(line, " ")
	parts := strings.Split(f, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(code/100) {
		return "", line, false
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 || p == "" {
			return "", line, false
		}
	}
	return f, rest, true
}
