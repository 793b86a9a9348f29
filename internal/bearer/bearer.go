// Package bearer logs in to a mail server with an OAuth2 access token:
// the SASL mechanisms XOAUTH2 (Google's and Microsoft's) and OAUTHBEARER
// (RFC 7628), as go-sasl clients for SMTP (RFC 4954) and IMAP.
package bearer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
)

// Mechanism names.
const (
	XOAuth2     = "XOAUTH2"
	OAuthBearer = sasl.OAuthBearer
)

// Choose is the mechanism to log in with among those the server offers:
// XOAUTH2, which Microsoft 365 and Google both take, else OAUTHBEARER;
// "" when the server offers neither.
func Choose(offered []string) string {
	for _, m := range []string{XOAuth2, OAuthBearer} {
		if slices.ContainsFunc(offered, func(o string) bool { return strings.EqualFold(o, m) }) {
			return m
		}
	}
	return ""
}

// NewClient is a SASL client of mechanism mech (Choose) that logs in as
// username with token, at host and port (which OAUTHBEARER names).
func NewClient(mech, username, token, host string, port int) sasl.Client {
	if mech == OAuthBearer {
		return &oauthBearer{opts: sasl.OAuthBearerOptions{Username: username, Token: token, Host: host, Port: port}}
	}
	return &xoauth2{username: username, token: token}
}

// Error is what a server said of a token it refused, in the JSON of an
// XOAUTH2 or OAUTHBEARER challenge: status invalid_token (expired or
// revoked) or insufficient_scope.
type Error struct {
	Status  string `json:"status"`
	Scope   string `json:"scope"`
	Schemes string `json:"schemes"`
}

func (e *Error) Error() string {
	return "the server refused the token (" + strconv.Quote(e.Status) + ")"
}

// xoauth2 is the XOAUTH2 mechanism: user=NAME^Aauth=Bearer TOKEN^A^A.
// A failure comes as a challenge holding a JSON error; the client answers
// it with an empty line and the server ends the exchange with its reply.
type xoauth2 struct {
	username, token string
	refused         *Error
}

func (a *xoauth2) Start() (string, []byte, error) {
	return XOAuth2, []byte("user=" + a.username + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

func (a *xoauth2) Next(challenge []byte) ([]byte, error) {
	if a.refused != nil {
		return nil, a.refused
	}
	a.refused = &Error{}
	if err := json.Unmarshal(challenge, a.refused); err != nil {
		a.refused.Status = "unknown"
	}
	return []byte{}, nil
}

// oauthBearer is OAUTHBEARER (RFC 7628) as go-sasl makes it, answering
// an error challenge as §3.2.3 says: with ^A, so that the server ends
// the exchange with its reply instead of the client cancelling it.
type oauthBearer struct {
	opts    sasl.OAuthBearerOptions
	refused *Error
}

func (a *oauthBearer) Start() (string, []byte, error) {
	return sasl.NewOAuthBearerClient(&a.opts).Start()
}

func (a *oauthBearer) Next(challenge []byte) ([]byte, error) {
	if a.refused != nil {
		return nil, a.refused
	}
	a.refused = &Error{}
	if err := json.Unmarshal(challenge, a.refused); err != nil {
		return nil, fmt.Errorf("OAUTHBEARER: a challenge that is not an error: %w", err)
	}
	return []byte{0x01}, nil
}

// Refused is what the server said of the token in c's exchange, when it
// sent an error challenge (some servers then end the exchange with a 4xx
// reply, not a 535); nil when it sent none.
func Refused(c sasl.Client) *Error {
	switch c := c.(type) {
	case *xoauth2:
		return c.refused
	case *oauthBearer:
		return c.refused
	}
	return nil
}
