package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// Client is an application registered with an authorization server, the
// server's endpoints, and the user who logs in. Callers build it from the
// configuration (smtp.oauth2 and smtp.username).
type Client struct {
	// ClientID is the application's id. It is a public client: it proves
	// a login with PKCE.
	ClientID string
	// ClientSecret is what Google issues with a Desktop app's id and
	// wants at its token endpoint, though an installed program cannot
	// keep it secret; empty for the others (Microsoft's public clients).
	ClientSecret string
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

// config is c for golang.org/x/oauth2. A public client sends its id in
// the form (RFC 6749 §2.3.1), never in a Basic header: x/oauth2's guess
// would try the header first and make two requests of every exchange.
func (c Client) config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:       c.AuthURL,
			TokenURL:      c.TokenURL,
			DeviceAuthURL: c.DeviceURL,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURL,
		Scopes:      c.Scopes,
	}
}

// id is a short digest of the account, which names its entry in a store
// without spelling out the server and the application.
func (a Account) id() string {
	sum := sha256.Sum256([]byte(a.TokenURL + "\n" + a.ClientID + "\n" + a.Username))
	return hex.EncodeToString(sum[:8])
}

// defaultHTTP is the HTTP client of requests to the authorization server
// where the context names none (oauth2.HTTPClient): x/oauth2 would use
// http.DefaultClient, which waits for ever on a server that does not
// answer, and a refresh holds up every session.
var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// withHTTP is ctx with an HTTP client for x/oauth2: its own, else
// defaultHTTP.
func withHTTP(ctx context.Context) context.Context {
	if _, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, defaultHTTP)
}
