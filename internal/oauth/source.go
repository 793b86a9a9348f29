package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// ErrLoginExpired is the error of a refresh the server refused: the
// refresh token has expired, or the user, their IT or the provider
// revoked it (a changed password, a new policy). Only a new login helps.
var ErrLoginExpired = errors.New("your login has expired or was revoked; run mailmerge login")

// Margin is how long before its expiry an access token is refreshed: a
// server must still take it when a session logs in with it, past the
// clocks' difference and the time on the way. (golang.org/x/oauth2 keeps
// 10 seconds.)
const Margin = time.Minute

// Source gives out a user's access token, refreshing it with the refresh
// token when it is about to expire and when a server refuses it, and
// saving what the server returns (a rotated refresh token) to the store.
// Its methods are safe for concurrent use by several sessions: many that
// find the same token refused cause one refresh.
type Source struct {
	// Now is the clock that decides when a token is about to expire;
	// nil means time.Now. Set it before the first call of Token.
	Now func() time.Time

	client  Client
	account Account
	conf    *oauth2.Config
	store   Store
	http    *http.Client // from NewSource's context, for refreshes

	refreshing chan struct{} // holds one value while a refresh runs

	mu  sync.Mutex // guards tok
	tok *oauth2.Token
}

// Status is what a Source knows of its login, for check --smtp.
type Status struct {
	Username string
	Scopes   []string  // granted (or, where the server did not say, asked for)
	Expiry   time.Time // of the access token; zero if the server named none
}

// NewSource reads c's tokens from store. With none stored, its error is
// ErrNotLoggedIn. The refreshes use the HTTP client that x/oauth2 takes
// from ctx (oauth2.HTTPClient), else one with a timeout of 30 seconds.
func NewSource(ctx context.Context, c Client, store Store) (*Source, error) {
	a := c.Account()
	tok, err := store.Load(a)
	if errors.Is(err, ErrNotLoggedIn) {
		return nil, fmt.Errorf("%s at %s: %w", c.Username, host(c.TokenURL), ErrNotLoggedIn)
	}
	if err != nil {
		return nil, err
	}
	s := &Source{client: c, account: a, conf: c.config(""), store: store, refreshing: make(chan struct{}, 1), tok: tok}
	s.http = withHTTP(ctx).Value(oauth2.HTTPClient).(*http.Client)
	return s, nil
}

// Token returns the access token to log in with. refused is the token a
// server just refused (535, invalid_token), or "": when it is the
// current one, Token gets a new one from the server even if the current
// one has not expired. Callers retry a refused login once. An error
// wrapping ErrLoginExpired means only mailmerge login helps.
func (s *Source) Token(ctx context.Context, refused string) (string, error) {
	if tok := s.current(); s.usable(tok, refused) {
		return tok.AccessToken, nil
	}
	select {
	case s.refreshing <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.refreshing }()
	// Another session may have refreshed while this one waited.
	tok := s.current()
	if s.usable(tok, refused) {
		return tok.AccessToken, nil
	}
	fresh, err := s.refresh(ctx, tok)
	if err != nil {
		return "", err
	}
	return fresh.AccessToken, nil
}

// Status says who is logged in, with which scopes, and until when the
// access token is good.
func (s *Source) Status() Status {
	tok := s.current()
	return Status{Username: s.client.Username, Scopes: grantedScopes(tok, s.client.Scopes), Expiry: tok.Expiry}
}

func (s *Source) current() *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}

func (s *Source) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// usable reports whether tok may be given out: it is not the one
// refused, and it does not expire within Margin, or within half its
// lifetime where the server said that is shorter: a token that lives
// less than Margin is not refreshed at every call.
func (s *Source) usable(tok *oauth2.Token, refused string) bool {
	if tok.AccessToken == "" || tok.AccessToken == refused {
		return false
	}
	margin := Margin
	if tok.ExpiresIn > 0 {
		margin = min(margin, time.Duration(tok.ExpiresIn)*time.Second/2)
	}
	return tok.Expiry.IsZero() || s.now().Add(margin).Before(tok.Expiry)
}

// refresh gets a new access token with old's refresh token and saves it.
// Run by one session at a time.
func (s *Source) refresh(ctx context.Context, old *oauth2.Token) (*oauth2.Token, error) {
	// Another mailmerge, or another Source of this one, may have
	// refreshed first: its tokens are in the store. Using the refresh
	// token it spent would look like a stolen one being replayed, and a
	// server that rotates refresh tokens ends the whole login for that
	// (RFC 9700 §4.14.2).
	if stored, err := s.store.Load(s.account); err == nil && stored.RefreshToken != "" && stored.RefreshToken != old.RefreshToken {
		s.set(stored)
		if s.usable(stored, old.AccessToken) {
			return stored, nil
		}
		old = stored
	}
	fresh, err := s.exchange(ctx, old)
	if isLoginExpired(err) {
		// Another mailmerge (a send and a bounces run at once) may have
		// refreshed first, spending the refresh token this one holds.
		if stored, lerr := s.store.Load(s.account); lerr == nil && stored.RefreshToken != old.RefreshToken {
			s.set(stored)
			if s.usable(stored, old.AccessToken) {
				return stored, nil
			}
			fresh, err = s.exchange(ctx, stored)
			old = stored
		}
	}
	if isLoginExpired(err) {
		return nil, fmt.Errorf("%s at %s: %w%s", s.client.Username, host(s.client.TokenURL), ErrLoginExpired, serverSaid(err))
	}
	if err != nil {
		return nil, fmt.Errorf("refresh the login of %s at %s: %w", s.client.Username, host(s.client.TokenURL), plainError(err))
	}
	if fresh.Extra("scope") == nil {
		if scope, _ := old.Extra("scope").(string); scope != "" {
			fresh = fresh.WithExtra(map[string]any{"scope": scope})
		}
	}
	s.set(fresh)
	if err := s.store.Save(s.account, fresh); err != nil {
		return nil, fmt.Errorf("save the refreshed login of %s: %w", s.client.Username, err)
	}
	return fresh, nil
}

// exchange asks the token endpoint for a new access token. A server that
// rotates refresh tokens returns a new one; x/oauth2 keeps the old one
// where it does not.
func (s *Source) exchange(ctx context.Context, old *oauth2.Token) (*oauth2.Token, error) {
	if old.RefreshToken == "" {
		return nil, errNoRefreshToken
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.http)
	return s.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: old.RefreshToken}).Token()
}

func (s *Source) set(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = tok
}

// errNoRefreshToken is the state of a login whose server gave no refresh
// token (a provider that wants a scope such as offline_access for one).
var errNoRefreshToken = errors.New("the server gave no refresh token at login")

// isLoginExpired reports a refresh that only a new login can fix:
// invalid_grant (RFC 6749 §5.2: the refresh token is invalid, expired or
// revoked), or Microsoft's interaction_required (the user must sign in
// again, say for multi-factor authentication).
func isLoginExpired(err error) bool {
	if errors.Is(err, errNoRefreshToken) {
		return true
	}
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "interaction_required")
}

// serverSaid is the server's explanation of err, if it gave one.
func serverSaid(err error) string {
	var re *oauth2.RetrieveError
	switch {
	case errors.Is(err, errNoRefreshToken):
		return " (" + err.Error() + ")"
	case errors.As(err, &re) && re.ErrorDescription != "":
		return fmt.Sprintf(" (the server said: %s: %s)", re.ErrorCode, oneLine(re.ErrorDescription))
	case errors.As(err, &re):
		return fmt.Sprintf(" (the server said: %s)", re.ErrorCode)
	}
	return ""
}

// plainError is err, with an authorization server's error answer said in
// one line: x/oauth2's quotes the whole body of an answer without an
// error code (an HTML page, say).
func plainError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	return serverError{re}
}

type serverError struct{ re *oauth2.RetrieveError }

func (e serverError) Error() string {
	re := e.re
	switch {
	case re.ErrorCode != "" && re.ErrorDescription != "":
		return fmt.Sprintf("the server said %s: %s", re.ErrorCode, oneLine(re.ErrorDescription))
	case re.ErrorCode != "":
		return "the server said " + re.ErrorCode
	case re.Response != nil:
		return "the server answered " + re.Response.Status
	}
	return "the server refused"
}

func (e serverError) Unwrap() error { return e.re }

// oneLine shortens a server's description to one line of at most 300
// characters (Microsoft's carry a trace id and a timestamp on more).
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// host is the host of an endpoint, to name a server in a message.
func host(endpoint string) string {
	rest := endpoint
	if _, after, ok := strings.Cut(endpoint, "://"); ok {
		rest = after
	}
	h, _, _ := strings.Cut(rest, "/")
	return h
}

// grantedScopes are the scopes the server granted with t (its scope
// parameter, RFC 6749 §5.1), or, where it did not say, those asked for.
func grantedScopes(t *oauth2.Token, asked []string) []string {
	if s, _ := t.Extra("scope").(string); strings.TrimSpace(s) != "" {
		return strings.Fields(s)
	}
	return asked
}
