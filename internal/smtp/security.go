package smtp

import (
	"fmt"
	"strings"
)

// Security is how an SMTP connection is protected.
type Security string

// Security modes.
const (
	StartTLS Security = "starttls" // plain text, then STARTTLS before anything else (port 587)
	TLS      Security = "tls"      // TLS from the first byte (port 465)
	Plain    Security = "none"     // no TLS: loopback or a trusted network only
)

// UnmarshalText reads a security mode, in any case; empty means the
// default, which depends on the port.
func (s *Security) UnmarshalText(text []byte) error {
	switch v := Security(strings.ToLower(strings.TrimSpace(string(text)))); v {
	case StartTLS, TLS, Plain, "":
		*s = v
		return nil
	}
	return fmt.Errorf("must be starttls, tls or none, got %q", text)
}

// Words says a security mode for people.
func (s Security) Words() string {
	switch s {
	case StartTLS:
		return "STARTTLS"
	case TLS:
		return "TLS"
	case Plain:
		return "unencrypted"
	}
	return string(s)
}
