package testoauth

import (
	"encoding/json"
	"fmt"

	"github.com/emersion/go-sasl"
)

// The client side of the SASL bearer-token mechanisms, for tests of the
// servers; mailmerge's own clients live elsewhere.

// XOAuth2 is a SASL client for Google's and Microsoft's XOAUTH2: the
// initial response "user=USER\x01auth=Bearer TOKEN\x01\x01". A server
// that refuses the token sends a JSON challenge; the client answers with
// an empty response and the server ends with its failure reply. Err then
// holds the challenge's status.
type XOAuth2 struct {
	User, Token string
	Err         error
}

// Start implements sasl.Client.
func (c *XOAuth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + c.User + "\x01auth=Bearer " + c.Token + "\x01\x01"), nil
}

// Next implements sasl.Client.
func (c *XOAuth2) Next(challenge []byte) ([]byte, error) {
	c.Err = challengeError("XOAUTH2", challenge)
	return []byte{}, nil
}

// OAuthBearer is a SASL client for OAUTHBEARER (RFC 7628), go-sasl's,
// except that it answers a server's error challenge with the dummy
// response %x01 that RFC 7628 §3.2.3 asks for, where go-sasl's returns
// an error and leaves the exchange hanging. Err then holds the
// challenge's status.
type OAuthBearer struct {
	User, Token string
	Err         error
}

// Start implements sasl.Client.
func (c *OAuthBearer) Start() (string, []byte, error) {
	return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: c.User, Token: c.Token}).Start()
}

// Next implements sasl.Client.
func (c *OAuthBearer) Next(challenge []byte) ([]byte, error) {
	c.Err = challengeError("OAUTHBEARER", challenge)
	return []byte{0x01}, nil
}

func challengeError(mech string, challenge []byte) error {
	var e sasl.OAuthBearerError
	if err := json.Unmarshal(challenge, &e); err != nil {
		return fmt.Errorf("%s: a challenge that is not JSON (%d bytes)", mech, len(challenge))
	}
	return fmt.Errorf("%s: the server refused the token: status %q, scope %q", mech, e.Status, e.Scope)
}

var (
	_ sasl.Client = (*XOAuth2)(nil)
	_ sasl.Client = (*OAuthBearer)(nil)
)
