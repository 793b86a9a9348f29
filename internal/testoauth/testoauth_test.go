package testoauth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailmerge/mailmerge/internal/testoauth"
)

const user = "kafedra@example.com"

func retrieveError(t *testing.T, err error) string {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a RetrieveError", err)
	}
	return re.ErrorCode
}

// TestAuthCode runs the authorization code grant with PKCE and a loopback
// redirect on a port the client picked (in Login), then refreshes and
// revokes.
func TestAuthCode(t *testing.T) {
	t.Parallel()
	s := testoauth.Start(t, testoauth.Options{})
	conf, tok := s.Login(t, user)
	clientID := conf.ClientID
	if tok.TokenType != "Bearer" {
		t.Fatalf("token: access %s, refresh %s, type %q", testoauth.Redact(tok.AccessToken), testoauth.Redact(tok.RefreshToken), tok.TokenType)
	}
	if left := time.Until(tok.Expiry); left < 59*time.Minute || left > time.Hour {
		t.Errorf("the access token lives %v, want an hour", left)
	}
	in := s.Introspect(t, tok.AccessToken)
	scopes := strings.Fields(in.Scope)
	if !in.Active || in.Subject != user || in.ClientID != clientID || !slices.Contains(scopes, "SMTP.Send") || !slices.Contains(scopes, "IMAP.AccessAsUser.All") {
		t.Fatalf("introspection: %+v", in)
	}

	t.Run("Google's scope", func(t *testing.T) {
		_, tok := s.Login(t, user, "https://mail.google.com/")
		if in := s.Introspect(t, tok.AccessToken); !in.Active || !slices.Contains(strings.Fields(in.Scope), "https://mail.google.com/") {
			t.Fatalf("introspection: %+v", in)
		}
	})

	t.Run("refresh", func(t *testing.T) {
		old := *tok
		old.Expiry = time.Now().Add(-time.Second)
		fresh, err := conf.TokenSource(context.Background(), &old).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == "" {
			t.Fatalf("refresh gave access %s, refresh %s", testoauth.Redact(fresh.AccessToken), testoauth.Redact(fresh.RefreshToken))
		}
		if !s.Introspect(t, fresh.AccessToken).Active {
			t.Fatal("the new access token is not active")
		}
		// A public client's refresh token is rotated: the old one is spent.
		if _, err := conf.TokenSource(context.Background(), &old).Token(); retrieveError(t, err) != "invalid_grant" {
			t.Fatalf("the spent refresh token: %v", err)
		}
		tok = fresh
	})

	t.Run("revoke", func(t *testing.T) {
		s.Revoke(t, tok.RefreshToken)
		if s.Introspect(t, tok.AccessToken).Active {
			t.Error("the access token of a revoked grant is still active")
		}
		old := *tok
		old.Expiry = time.Now().Add(-time.Second)
		if _, err := conf.TokenSource(context.Background(), &old).Token(); retrieveError(t, err) != "invalid_grant" {
			t.Fatalf("refresh with a revoked token: %v", err)
		}
	})

	t.Run("no verifier", func(t *testing.T) {
		redirect, got := testoauth.Loopback(t)
		conf := &oauth2.Config{ClientID: clientID, Endpoint: s.Endpoint(), RedirectURL: redirect, Scopes: testoauth.Scopes}
		s.ApproveAuthCode(t, user, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		_, err := conf.Exchange(context.Background(), (<-got).Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if retrieveError(t, err) != "invalid_grant" {
			t.Fatalf("exchange with the wrong verifier: %v", err)
		}
	})

	t.Run("denied", func(t *testing.T) {
		redirect, got := testoauth.Loopback(t)
		conf := &oauth2.Config{ClientID: clientID, Endpoint: s.Endpoint(), RedirectURL: redirect, Scopes: testoauth.Scopes}
		s.DenyAuthCode(t, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if q := <-got; q.Get("error") != "access_denied" || q.Get("state") != "st" || q.Has("code") {
			t.Fatalf("the client got %v", q)
		}
	})
}

// TestDevice runs the device authorization grant: approved, then denied.
func TestDevice(t *testing.T) {
	t.Parallel()
	s := testoauth.Start(t, testoauth.Options{})
	conf := &oauth2.Config{ClientID: s.Client(t), Endpoint: s.Endpoint(), Scopes: testoauth.Scopes}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if da.VerificationURI != s.VerifyURL || da.UserCode == "" || da.Interval != 1 {
		t.Fatalf("device authorization: verification URI %q, interval %d, user code of %d chars", da.VerificationURI, da.Interval, len(da.UserCode))
	}
	s.ApproveDevice(t, user, da.UserCode)
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("device access token: %v", err)
	}
	if in := s.Introspect(t, tok.AccessToken); !in.Active || in.Subject != user || tok.RefreshToken == "" {
		t.Fatalf("introspection: %+v; refresh token %s", in, testoauth.Redact(tok.RefreshToken))
	}

	da, err = conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	s.DenyDevice(t, da.UserCode)
	if _, err := conf.DeviceAccessToken(ctx, da); retrieveError(t, err) != "access_denied" {
		t.Fatalf("denied device flow: %v", err)
	}
}

// TestExpiry has access tokens that live a second.
func TestExpiry(t *testing.T) {
	t.Parallel()
	s := testoauth.Start(t, testoauth.Options{AccessTokenTTL: time.Second})
	conf, tok := s.Login(t, user)
	if left := time.Until(tok.Expiry); left > time.Second {
		t.Fatalf("the access token lives %v", left)
	}
	time.Sleep(time.Until(tok.Expiry) + 1100*time.Millisecond)
	if in := s.Introspect(t, tok.AccessToken); in.Active {
		t.Fatalf("an expired token is active: %+v", in)
	}
	fresh, err := conf.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if !s.Introspect(t, fresh.AccessToken).Active {
		t.Fatal("the refreshed token is not active")
	}
}

func TestRedact(t *testing.T) {
	for tok, want := range map[string]string{"": "[0 chars]", "abcdefgh": "[8 chars]", "abcdefghijk": "abcd…[11 chars]"} {
		if got := testoauth.Redact(tok); got != want {
			t.Errorf("Redact(%q) = %q, want %q", tok, got, want)
		}
	}
}
