package testoauth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
)

// Login gets tokens for user as a desktop program does, with
// golang.org/x/oauth2: a new public client, a listener on a loopback
// port of its own, the authorization code grant with PKCE (S256), the
// user approving in the browser ([Server.ApproveAuthCode]). scopes
// default to [Scopes]. It returns the client's configuration (for
// refreshing) and the tokens, with a refresh token.
func (s *Server) Login(t testing.TB, user string, scopes ...string) (*oauth2.Config, *oauth2.Token) {
	t.Helper()
	if len(scopes) == 0 {
		scopes = Scopes
	}
	redirect, got := Loopback(t)
	conf := &oauth2.Config{ClientID: s.Client(t, "http://127.0.0.1/callback"), Endpoint: s.Endpoint(), RedirectURL: redirect, Scopes: scopes}
	verifier, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	to := s.ApproveAuthCode(t, user, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	q := <-got
	code := q.Get("code")
	if q.Get("state") != state || code == "" || code != to.Query().Get("code") || q.Get("iss") != s.Issuer {
		t.Fatalf("login: the client got state %q (want %q), iss %q (want %q) and a code of %d chars",
			q.Get("state"), state, q.Get("iss"), s.Issuer, len(code))
	}
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("login: exchange the code: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("login: access token %s, refresh token %s", Redact(tok.AccessToken), Redact(tok.RefreshToken))
	}
	return conf, tok
}

// Loopback listens on a port of 127.0.0.1 for the authorization
// response, as a native client does (RFC 8252 §7.3), until the test
// ends. It returns the redirect URI (path /callback) and a channel that
// gets the query of each request to it.
func Loopback(t testing.TB) (redirectURI string, got <-chan url.Values) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan url.Values, 4)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		ch <- r.URL.Query()
		fmt.Fprintln(w, "You may close this window.")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return fmt.Sprintf("http://%s/callback", ln.Addr()), ch
}
