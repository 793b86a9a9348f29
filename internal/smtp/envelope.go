package smtp

import (
	"fmt"
	"strings"

	"github.com/mailmerge/mailmerge/internal/address"
)

// DSN is what delivery status notifications (RFC 3461) to ask for,
// where the server offers them: when (Notify: "FAILURE", "DELAY",
// "SUCCESS", or "NEVER") and what of the message they return (Ret:
// "HDRS" or "FULL"). They go as a Mail's Notify and Ret; a report names
// the transaction by its EnvID, and each recipient by its ORCPT, its
// address.
type DSN struct {
	Notify []string
	Ret    string
}

// mailLine is the MAIL command of m, with the parameters the server
// takes: SIZE (RFC 1870), SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461).
func (c *Client) mailLine(m *Mail, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "MAIL FROM:<%s>", m.From)
	if _, ok := c.Extension("SIZE"); ok {
		fmt.Fprintf(&b, " SIZE=%d", size)
	}
	if m.UTF8 {
		b.WriteString(" SMTPUTF8")
	}
	if _, ok := c.Extension("DSN"); ok {
		if m.Ret != "" {
			b.WriteString(" RET=" + m.Ret)
		}
		if m.EnvID != "" {
			b.WriteString(" ENVID=" + xtext(m.EnvID))
		}
	}
	return b.String()
}

// rcptLine is the RCPT command for rcpt, with NOTIFY and ORCPT (RFC 3461)
// where the server offers DSN.
func (c *Client) rcptLine(m *Mail, rcpt string) string {
	line := fmt.Sprintf("RCPT TO:<%s>", rcpt)
	if _, ok := c.Extension("DSN"); !ok {
		return line
	}
	if len(m.Notify) > 0 {
		line += " NOTIFY=" + strings.Join(m.Notify, ",")
	}
	if address.IsASCII(rcpt) && (len(m.Notify) > 0 || m.EnvID != "") {
		line += " ORCPT=rfc822;" + xtext(rcpt)
	}
	return line
}

// xtext encodes a DSN parameter (RFC 3461 §4): "+" followed by two hex
// digits for "+", "=" and what is not printable ASCII.
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
