package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// memStore is a Store in memory.
type memStore struct {
	mu   sync.Mutex
	toks map[Account]*oauth2.Token
}

func newMemStore() *memStore { return &memStore{toks: map[Account]*oauth2.Token{}} }

func (m *memStore) Load(a Account) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.toks[a]
	if !ok {
		return nil, ErrNotLoggedIn
	}
	return t, nil
}

func (m *memStore) Save(a Account, t *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.toks[a] = t
	return nil
}

func (m *memStore) Delete(a Account) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.toks[a]; !ok {
		return ErrNotLoggedIn
	}
	delete(m.toks, a)
	return nil
}

func TestNewSourceNotLoggedIn(t *testing.T) {
	_, err := NewSource(context.Background(), testClient, newMemStore())
	if !errors.Is(err, ErrNotLoggedIn) || !strings.Contains(err.Error(), "run mailmerge login") || !strings.Contains(err.Error(), "kafedra@univ.example at login.example") {
		t.Fatalf("err = %v", err)
	}
}

// TestSourceInvalidGrant: a token endpoint that refuses the refresh
// token gives ErrLoginExpired, in words, with the server's reason and
// without the token.
func TestSourceInvalidGrant(t *testing.T) {
	ts := newTokenServer(t, func(int, url.Values) (int, any) {
		return 400, oauthError("invalid_grant", "AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: 1234\r\nTimestamp: 2026-12-07")
	})
	c := ts.client()
	store := newMemStore()
	now := time.Now()
	store.Save(c.Account(), &oauth2.Token{AccessToken: "old-access-token", RefreshToken: "old-refresh-token", Expiry: now.Add(10 * time.Minute)})
	src, err := NewSource(context.Background(), c, store)
	if err != nil {
		t.Fatal(err)
	}
	src.Now = func() time.Time { return now }
	if tok, err := src.Token(context.Background(), ""); err != nil || tok != "old-access-token" {
		t.Fatalf("a valid token: %v", err)
	}
	if ts.count() != 0 {
		t.Fatal("a valid token was refreshed")
	}
	src.Now = func() time.Time { return now.Add(9*time.Minute + 30*time.Second) } // within Margin of expiry
	_, err = src.Token(context.Background(), "")
	if !errors.Is(err, ErrLoginExpired) {
		t.Fatalf("err = %v, want ErrLoginExpired", err)
	}
	msg := err.Error()
	for _, want := range []string{"kafedra@univ.example", "your login has expired or was revoked; run mailmerge login", "invalid_grant: AADSTS700082: The refresh token has expired due to inactivity."} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "old-") || strings.Contains(msg, "Trace ID") {
		t.Errorf("%q shows a token or more than one line", msg)
	}
	if ts.count() != 1 {
		t.Errorf("%d refreshes, want 1", ts.count())
	}

	// No refresh token at all (no offline_access): the same advice.
	store.Save(c.Account(), &oauth2.Token{AccessToken: "a", Expiry: now})
	src, _ = NewSource(context.Background(), c, store)
	if _, err := src.Token(context.Background(), ""); !errors.Is(err, ErrLoginExpired) || !strings.Contains(err.Error(), "no refresh token") {
		t.Fatalf("err = %v", err)
	}
}

// TestSourceAnotherRunRefreshed: a refresh token spent by another
// mailmerge that refreshed first (rotation) is not a lost login: the
// tokens it saved are taken.
func TestSourceAnotherRunRefreshed(t *testing.T) {
	ts := newTokenServer(t, func(_ int, form url.Values) (int, any) {
		if form.Get("refresh_token") == "rt-2" {
			return 200, map[string]any{"access_token": "at-3", "refresh_token": "rt-3", "token_type": "Bearer", "expires_in": 3600}
		}
		return 400, oauthError("invalid_grant", "refresh token already used")
	})
	c := ts.client()
	store := newMemStore()
	store.Save(c.Account(), &oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: time.Now().Add(-time.Minute)})
	src, err := NewSource(context.Background(), c, store)
	if err != nil {
		t.Fatal(err)
	}
	// The other run: refreshed, saved, and its access token has since
	// expired too.
	store.Save(c.Account(), &oauth2.Token{AccessToken: "at-2", RefreshToken: "rt-2", Expiry: time.Now().Add(-time.Second)})
	tok, err := src.Token(context.Background(), "")
	if err != nil || tok != "at-3" {
		t.Fatalf("Token = %q, %v; want at-3", tok, err)
	}
	if saved, _ := store.Load(c.Account()); saved.RefreshToken != "rt-3" {
		t.Fatalf("stored refresh token %q, want rt-3", saved.RefreshToken)
	}
	// And when its access token is still good, no request at all.
	store.Save(c.Account(), &oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: time.Now().Add(-time.Minute)})
	src, _ = NewSource(context.Background(), c, store)
	store.Save(c.Account(), &oauth2.Token{AccessToken: "at-9", RefreshToken: "rt-9", Expiry: time.Now().Add(time.Hour)})
	before := ts.count()
	if tok, err := src.Token(context.Background(), ""); err != nil || tok != "at-9" || ts.count() != before {
		t.Fatalf("Token = %q, %v after %d requests; want at-9 after none (a spent refresh token sent again ends the login where tokens rotate)", tok, err, ts.count()-before)
	}
}

// TestSourceServerDown: a refresh that fails for another reason is not
// ErrLoginExpired, and the next call tries again.
func TestSourceServerDown(t *testing.T) {
	ts := newTokenServer(t, func(n int, _ url.Values) (int, any) {
		if n == 0 {
			return 503, "<html>maintenance</html>"
		}
		return 200, map[string]any{"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600}
	})
	c := ts.client()
	store := newMemStore()
	store.Save(c.Account(), &oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: time.Now().Add(-time.Minute)})
	src, _ := NewSource(context.Background(), c, store)
	_, err := src.Token(context.Background(), "")
	if err == nil || errors.Is(err, ErrLoginExpired) || !strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "maintenance") {
		t.Fatalf("err = %v", err)
	}
	tok, err := src.Token(context.Background(), "")
	if err != nil || tok != "at-2" {
		t.Fatalf("Token = %q, %v", tok, err)
	}
	// The server named no new refresh token: the old one is kept.
	if saved, _ := store.Load(c.Account()); saved.RefreshToken != "rt-1" || saved.AccessToken != "at-2" {
		t.Fatalf("stored %+v", saved)
	}
}
