package oauth_test

// The login flows and the refresh against a real authorization server,
// node-oidc-provider (internal/testoauth). The tests play the user with
// the server's own pages.

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailmerge/mailmerge/internal/oauth"
	"github.com/mailmerge/mailmerge/internal/testoauth"
)

const user = "kafedra@univ.example"

// client registers a public client with s, as IT registers mailmerge.
func client(t *testing.T, s *testoauth.Server) oauth.Client {
	return oauth.Client{
		ClientID: s.Client(t),
		AuthURL:  s.AuthURL, TokenURL: s.TokenURL, DeviceURL: s.DeviceURL,
		Scopes:   testoauth.Scopes,
		Username: user,
	}
}

// loginBrowser runs LoginBrowser, the user approving in the browser.
func loginBrowser(t *testing.T, s *testoauth.Server, c oauth.Client) *oauth2.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	said := make(chan string, 1)
	done := make(chan error, 1)
	var tok *oauth2.Token
	go func() {
		var err error
		tok, err = oauth.LoginBrowser(ctx, c, nil, func(u string) { said <- u })
		done <- err
	}()
	to := s.ApproveAuthCode(t, user, <-said)
	if err := <-done; err != nil {
		t.Fatalf("browser login: %v", err)
	}
	if q := to.Query(); !q.Has("code") || !q.Has("state") || to.Host == "" || !strings.HasPrefix(to.Host, "127.0.0.1:") {
		t.Fatalf("the browser was sent to %s://%s%s", to.Scheme, to.Host, to.Path)
	}
	return tok
}

// checkToken asks the server about a login's tokens.
func checkToken(t *testing.T, s *testoauth.Server, c oauth.Client, tok *oauth2.Token) {
	t.Helper()
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("access token %s, refresh token %s", testoauth.Redact(tok.AccessToken), testoauth.Redact(tok.RefreshToken))
	}
	in := s.Introspect(t, tok.AccessToken)
	scopes := strings.Fields(in.Scope)
	if !in.Active || in.Subject != user || in.ClientID != c.ClientID || !slices.Contains(scopes, "SMTP.Send") || !slices.Contains(scopes, "IMAP.AccessAsUser.All") {
		t.Fatalf("introspection: %+v", in)
	}
}

func TestLoginBrowserReal(t *testing.T) {
	t.Parallel()
	s := testoauth.Start(t, testoauth.Options{})
	c := client(t, s)
	tok := loginBrowser(t, s, c)
	checkToken(t, s, c, tok)

	// Stored and read back, the login says who, what and until when.
	store, err := oauth.OpenStore(oauth.StoreOptions{Kind: oauth.StoreFile, Dir: filepath.Join(t.TempDir(), "tokens")})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(c.Account(), tok); err != nil {
		t.Fatal(err)
	}
	src, err := oauth.NewSource(context.Background(), c, store)
	if err != nil {
		t.Fatal(err)
	}
	st := src.Status()
	if st.Username != user || !slices.Contains(st.Scopes, "SMTP.Send") || !slices.Contains(st.Scopes, "IMAP.AccessAsUser.All") || st.Expiry.Unix() != tok.Expiry.Unix() {
		t.Fatalf("status %+v", st)
	}
	if left := time.Until(st.Expiry); left < 59*time.Minute || left > time.Hour {
		t.Fatalf("the token is good for %v, want an hour", left)
	}
	if got, err := src.Token(context.Background(), ""); err != nil || got != tok.AccessToken {
		t.Fatalf("Token: %v", err)
	}

	t.Run("declined", func(t *testing.T) {
		said := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			_, err := oauth.LoginBrowser(context.Background(), c, nil, func(u string) { said <- u })
			done <- err
		}()
		s.DenyAuthCode(t, <-said)
		var ae *oauth.AuthError
		if err := <-done; !errors.As(err, &ae) || ae.Code != "access_denied" {
			t.Fatalf("declined login: %v", err)
		}
	})
}

func TestLoginDeviceReal(t *testing.T) {
	t.Parallel()
	s := testoauth.Start(t, testoauth.Options{})
	c := client(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	login := func(user func(uri, code string)) (*oauth2.Token, error) {
		shown := make(chan [2]string, 1)
		done := make(chan error, 1)
		var tok *oauth2.Token
		go func() {
			var err error
			tok, err = oauth.LoginDevice(ctx, c, func(uri, code string) { shown <- [2]string{uri, code} })
			done <- err
		}()
		select {
		case sc := <-shown:
			user(sc[0], sc[1])
		case err := <-done:
			return nil, err
		}
		err := <-done
		return tok, err
	}

	tok, err := login(func(uri, code string) {
		if uri != s.VerifyURL || code == "" {
			t.Errorf("shown %q and a code of %d chars", uri, len(code))
		}
		s.ApproveDevice(t, user, code)
	})
	if err != nil {
		t.Fatalf("device login: %v", err)
	}
	checkToken(t, s, c, tok)

	_, err = login(func(_, code string) { s.DenyDevice(t, code) })
	var ae *oauth.AuthError
	if !errors.As(err, &ae) || ae.Code != "access_denied" {
		t.Fatalf("declined device login: %v", err)
	}
}

// countingStore counts the saves of a store: one for each refresh.
type countingStore struct {
	oauth.Store
	saves atomic.Int32
}

func (c *countingStore) Save(a oauth.Account, t *oauth2.Token) error {
	c.saves.Add(1)
	return c.Store.Save(a, t)
}

// TestRefreshReal: an access token that lives 2 seconds expires, and
// eight sessions asking at once cause one refresh; a server's refusal of
// a token the clock says is good causes one more; a revoked refresh
// token is ErrLoginExpired.
func TestRefreshReal(t *testing.T) {
	t.Parallel()
	s := testoauth.Start(t, testoauth.Options{AccessTokenTTL: 2 * time.Second})
	c := client(t, s)
	tok := loginBrowser(t, s, c)
	files, err := oauth.OpenStore(oauth.StoreOptions{Kind: oauth.StoreFile, Dir: filepath.Join(t.TempDir(), "tokens")})
	if err != nil {
		t.Fatal(err)
	}
	if err := files.Save(c.Account(), tok); err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: files}
	ctx := context.Background()
	src, err := oauth.NewSource(ctx, c, store)
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64 // Unix nanoseconds
	setClock := func(at time.Time) { clock.Store(at.UnixNano()) }
	src.Now = func() time.Time { return time.Unix(0, clock.Load()) }

	// sessions asks for the token from eight sessions at once, each
	// saying refused was refused; they must agree.
	sessions := func(refused string) string {
		t.Helper()
		var wg sync.WaitGroup
		got := make([]string, 8)
		errs := make([]error, 8)
		for i := range got {
			wg.Go(func() { got[i], errs[i] = src.Token(ctx, refused) })
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil {
				t.Fatalf("session %d: %v", i, errs[i])
			}
			if got[i] != got[0] {
				t.Fatalf("sessions got %d different tokens", len(slices.Compact(slices.Sorted(slices.Values(got)))))
			}
		}
		return got[0]
	}
	stored := func() *oauth2.Token {
		t.Helper()
		st, err := files.Load(c.Account())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	// A clock that says the token is good: no refresh.
	setClock(tok.Expiry.Add(-2 * oauth.Margin))
	if got := sessions(""); got != tok.AccessToken || store.saves.Load() != 0 {
		t.Fatalf("a good token: %d refreshes", store.saves.Load())
	}

	// It expires at the server.
	for s.Introspect(t, tok.AccessToken).Active {
		if time.Now().After(tok.Expiry.Add(5 * time.Second)) {
			t.Fatal("the access token is still active 5 s after its expiry")
		}
		time.Sleep(200 * time.Millisecond)
	}
	setClock(time.Now())
	fresh := sessions("")
	if fresh == tok.AccessToken || store.saves.Load() != 1 {
		t.Fatalf("after expiry: a new token %v, %d refreshes; want a new one, 1", fresh != tok.AccessToken, store.saves.Load())
	}
	if !s.Introspect(t, fresh).Active {
		t.Fatal("the refreshed access token is not active")
	}
	// The refresh token was rotated (node-oidc-provider spends the old
	// one) and the new one saved.
	rotated := stored()
	if rotated.AccessToken != fresh || rotated.RefreshToken == tok.RefreshToken || rotated.RefreshToken == "" {
		t.Fatalf("stored: access is the new one %v, refresh rotated %v", rotated.AccessToken == fresh, rotated.RefreshToken != tok.RefreshToken)
	}
	if st := src.Status(); !slices.Contains(st.Scopes, "SMTP.Send") || st.Expiry.Unix() != rotated.Expiry.Unix() {
		t.Fatalf("status after refresh: %+v", st)
	}

	// The server refuses a token the clock says is good (the clocks
	// differ): eight sessions that saw it refused cause one refresh.
	setClock(rotated.Expiry.Add(-2 * oauth.Margin))
	if got := sessions(""); got != fresh {
		t.Fatal("a good token was replaced")
	}
	refused := sessions(fresh)
	if refused == fresh || store.saves.Load() != 2 {
		t.Fatalf("after a refusal: a new token %v, %d refreshes; want a new one, 2", refused != fresh, store.saves.Load())
	}
	// A session that reports the older refusal late gets the new token.
	if got := sessions(fresh); got != refused || store.saves.Load() != 2 {
		t.Fatalf("a late refusal: %d refreshes", store.saves.Load())
	}

	// The user's IT revokes the login.
	s.Revoke(t, stored().RefreshToken)
	_, err = src.Token(ctx, refused)
	if !errors.Is(err, oauth.ErrLoginExpired) {
		t.Fatalf("after revocation: %v, want ErrLoginExpired", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "your login has expired or was revoked; run mailmerge login") || !strings.Contains(msg, "invalid_grant") {
		t.Errorf("message %q", msg)
	}
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken, fresh, refused, rotated.RefreshToken} {
		if strings.Contains(msg, secret) {
			t.Fatal("the message shows a token")
		}
	}
	t.Logf("after revocation: %v", err)
}

// TestTwoSourcesReal: two Sources of one login (the SMTP sessions and the
// IMAP mailbox of a send, or a send and a bounces run at once) against a
// server that rotates refresh tokens and ends the whole login when a
// spent one comes back. The second Source, refused its old access token,
// takes the tokens the first saved instead of spending the refresh token
// again: the login stays good.
func TestTwoSourcesReal(t *testing.T) {
	as := testoauth.Start(t, testoauth.Options{})
	conf, tok := as.Login(t, "kafedra@example.org")
	store, err := oauth.OpenStore(oauth.StoreOptions{Kind: oauth.StoreFile, Dir: filepath.Join(t.TempDir(), "tokens")})
	if err != nil {
		t.Fatal(err)
	}
	c := oauth.Client{ClientID: conf.ClientID, TokenURL: as.TokenURL, Username: "kafedra@example.org", Scopes: testoauth.Scopes}
	if err := store.Save(c.Account(), tok); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	smtp, _ := oauth.NewSource(ctx, c, store)
	imap, _ := oauth.NewSource(ctx, c, store)
	as.Expire(t, tok.AccessToken)
	fresh, err := smtp.Token(ctx, tok.AccessToken)
	if err != nil || fresh == tok.AccessToken {
		t.Fatalf("first source: %s, %v", testoauth.Redact(fresh), err)
	}
	got, err := imap.Token(ctx, tok.AccessToken)
	if err != nil || got != fresh {
		t.Fatalf("second source: %s, %v; want the first one's %s", testoauth.Redact(got), err, testoauth.Redact(fresh))
	}
	if !as.Introspect(t, fresh).Active {
		t.Error("the login was ended: a spent refresh token was sent again")
	}
}
