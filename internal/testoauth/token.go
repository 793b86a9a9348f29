package testoauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Introspection is the server's answer about a token (RFC 7662), as a
// resource server gets it.
type Introspection struct {
	Active    bool
	Subject   string    // the user: the login name given at sign-in
	ClientID  string    // the client the token was issued to
	Scope     string    // space-separated
	TokenType string    // "Bearer" for an access token; empty for a refresh token
	Expiry    time.Time // zero when inactive
}

// Introspect asks the server about token as the resource server does.
func (s *Server) Introspect(t testing.TB, token string) Introspection {
	t.Helper()
	req, _ := http.NewRequest("POST", s.IntrospectURL, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.ResourceClientID, s.ResourceSecret)
	var r struct {
		Active    bool   `json:"active"`
		Sub       string `json:"sub"`
		ClientID  string `json:"client_id"`
		Scope     string `json:"scope"`
		TokenType string `json:"token_type"`
		Exp       int64  `json:"exp"`
	}
	doJSON(t, "introspect "+Redact(token), req, http.StatusOK, &r)
	in := Introspection{Active: r.Active, Subject: r.Sub, ClientID: r.ClientID, Scope: r.Scope, TokenType: r.TokenType}
	if r.Exp != 0 {
		in.Expiry = time.Unix(r.Exp, 0)
	}
	return in
}

// Revoke revokes token (RFC 7009) as the client it was issued to would.
// Revoking a refresh token ends its whole grant: the access tokens issued
// with it stop working too. An inactive token is left alone.
func (s *Server) Revoke(t testing.TB, token string) {
	t.Helper()
	in := s.Introspect(t, token)
	if !in.Active {
		return
	}
	form := url.Values{"token": {token}, "client_id": {in.ClientID}}
	req, _ := http.NewRequest("POST", s.RevokeURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	doJSON(t, "revoke "+Redact(token), req, http.StatusOK, nil)
	if s.Introspect(t, token).Active {
		t.Fatalf("revoke %s: still active", Redact(token))
	}
}

// Expire ends an access token as its expiry would, at once: the server
// no longer takes it, and the grant and its refresh token stay good, so
// a client refreshes. (Revoking an access token may end its grant on
// this server.)
func (s *Server) Expire(t testing.TB, token string) {
	t.Helper()
	form := url.Values{"token": {token}}
	req, _ := http.NewRequest("POST", s.Issuer+"/test/expire", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	doJSON(t, "expire "+Redact(token), req, http.StatusNoContent, nil)
	if s.Introspect(t, token).Active {
		t.Fatalf("expire %s: still active", Redact(token))
	}
}
