package oauth

import (
	"crypto/sha256"
	"encoding/hex"
)

// Client is an application registered with an authorization server, the
// server's endpoints, and the user who logs in. Callers build it from the
// configuration (smtp.oauth2 and smtp.username).
type Client struct {
	// ClientID is the application's id. It is a public client: it has
	// no secret, and proves a login with PKCE instead.
	ClientID string
	// AuthURL is the authorization endpoint, TokenURL the token endpoint.
	AuthURL, TokenURL string
	// DeviceURL is the device authorization endpoint (RFC 8628); empty
	// where the provider has none.
	DeviceURL string
	// Scopes are the scopes asked for: for mail, those of SMTP and IMAP,
	// and the one that grants a refresh token (offline_access at
	// Microsoft).
	Scopes []string
	// Username is the mailbox the user logs in to. The browser's sign-in
	// page is given it as a hint, and the tokens are stored under it.
	Username string
}

// Account is the key a Store keeps tokens under: the same user logged in
// through another application, or at another server, has other tokens.
type Account struct {
	TokenURL, ClientID, Username string
}

// Account returns the key c's tokens are stored under.
func (c Client) Account() Account {
	return Account{TokenURL: c.TokenURL, ClientID: c.ClientID, Username: c.Username}
}

// id is a short digest of the account, which names its entry in a store
// without spelling out the server and the application.
func (a Account) id() string {
	sum := sha256.Sum256([]byte(a.TokenURL + "\n" + a.ClientID + "\n" + a.Username))
	return hex.EncodeToString(sum[:8])
}
