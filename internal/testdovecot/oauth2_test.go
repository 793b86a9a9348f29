package testdovecot_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/mailmerge/mailmerge/internal/testca"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
	"github.com/mailmerge/mailmerge/internal/testoauth"
)

// start runs an authorization server and a Dovecot that checks its tokens
// for the scope IMAP.AccessAsUser.All, with the password user kafedra.
func start(t *testing.T, opts testoauth.Options) (*testoauth.Server, *testdovecot.Dovecot, *tls.Config) {
	t.Helper()
	testdovecot.Need(t)
	as := testoauth.Start(t, opts)
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	v := testdovecot.Start(t, testdovecot.Options{
		TLS:   ca.Server,
		Users: map[string]string{"kafedra": "s3cret-pw"},
		OAuth2: &testdovecot.OAuth2{
			IntrospectionURL: as.IntrospectURL,
			ClientID:         as.ResourceClientID,
			ClientSecret:     as.ResourceSecret,
			Scope:            "IMAP.AccessAsUser.All",
		},
	})
	return as, v, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}
}

// imapLogin logs in over IMAPS with sasl (nil: LOGIN with the password)
// and selects INBOX.
func imapLogin(t *testing.T, v *testdovecot.Dovecot, cfg *tls.Config, sc sasl.Client) error {
	t.Helper()
	c, err := imapclient.DialTLS(fmt.Sprintf("127.0.0.1:%d", v.Port), &imapclient.Options{TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sc == nil {
		err = c.Login("kafedra", "s3cret-pw").Wait()
	} else {
		err = c.Authenticate(sc)
	}
	if err != nil {
		return err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("select INBOX: %v", err)
	}
	return c.Logout().Wait()
}

// TestOAuth2 logs in to IMAP with tokens from a real authorization server,
// checked by Dovecot's oauth2 passdb: accepted with XOAUTH2 and
// OAUTHBEARER, refused when revoked, of another user, or without the
// IMAP scope; passwords keep working.
func TestOAuth2(t *testing.T) {
	t.Parallel()
	as, v, cfg := start(t, testoauth.Options{})
	const user = "kafedra@example.com"
	_, tok := as.Login(t, user)

	if err := imapLogin(t, v, cfg, &testoauth.XOAuth2{User: user, Token: tok.AccessToken}); err != nil {
		t.Fatalf("XOAUTH2: %v\n%s", err, v.Log())
	}
	if err := imapLogin(t, v, cfg, &testoauth.OAuthBearer{User: user, Token: tok.AccessToken}); err != nil {
		t.Fatalf("OAUTHBEARER: %v\n%s", err, v.Log())
	}
	if err := imapLogin(t, v, cfg, nil); err != nil {
		t.Fatalf("password: %v\n%s", err, v.Log())
	}
	// A user with no password, known to the authorization server only.
	_, other := as.Login(t, "dekanat@example.com")
	if err := imapLogin(t, v, cfg, &testoauth.XOAuth2{User: "dekanat@example.com", Token: other.AccessToken}); err != nil {
		t.Fatalf("XOAUTH2 for a user without a password: %v\n%s", err, v.Log())
	}

	refused := func(t *testing.T, user, token, reason string) {
		t.Helper()
		// go-imap sends an empty response as "=", which Dovecot takes
		// for bad base64: XOAUTH2's empty answer to the error challenge
		// gets BAD and a closed connection instead of NO.
		x := &testoauth.XOAuth2{User: user, Token: token}
		if err := imapLogin(t, v, cfg, x); err == nil {
			t.Error("XOAUTH2 login succeeded")
		}
		o := &testoauth.OAuthBearer{User: user, Token: token}
		if err := imapLogin(t, v, cfg, o); err == nil || !strings.Contains(err.Error(), "AUTHENTICATIONFAILED") {
			t.Errorf("OAUTHBEARER login: %v, want AUTHENTICATIONFAILED", err)
		}
		if x.Err == nil || o.Err == nil {
			t.Errorf("error challenges: XOAUTH2 %v, OAUTHBEARER %v", x.Err, o.Err)
		}
		t.Log(x.Err)
		if !strings.Contains(v.Log(), reason) {
			t.Errorf("Dovecot's log does not say %q:\n%s", reason, v.Log())
		}
		if strings.Contains(v.Log(), token) {
			t.Error("Dovecot's log has the token")
		}
	}
	t.Run("another user's token", func(t *testing.T) {
		refused(t, user, other.AccessToken, "did not match")
	})
	t.Run("no IMAP scope", func(t *testing.T) {
		_, smtpOnly := as.Login(t, user, "SMTP.Send", "offline_access")
		refused(t, user, smtpOnly.AccessToken, "not valid for scope")
	})
	t.Run("revoked", func(t *testing.T) {
		as.Revoke(t, tok.RefreshToken)
		refused(t, user, tok.AccessToken, "Provided token is not valid")
	})
	t.Run("not a token", func(t *testing.T) {
		refused(t, user, "not-a-token-at-all", "Provided token is not valid")
	})
}

// TestOAuth2Expiry has Dovecot refuse an access token once it expired,
// and take the refreshed one.
func TestOAuth2Expiry(t *testing.T) {
	t.Parallel()
	as, v, cfg := start(t, testoauth.Options{AccessTokenTTL: 2 * time.Second})
	const user = "kafedra@example.com"
	conf, tok := as.Login(t, user)
	if err := imapLogin(t, v, cfg, &testoauth.XOAuth2{User: user, Token: tok.AccessToken}); err != nil {
		t.Fatalf("XOAUTH2 before expiry: %v\n%s", err, v.Log())
	}
	time.Sleep(time.Until(tok.Expiry) + 1100*time.Millisecond)
	if err := imapLogin(t, v, cfg, &testoauth.XOAuth2{User: user, Token: tok.AccessToken}); err == nil {
		t.Fatal("XOAUTH2 with an expired token succeeded")
	}
	fresh, err := conf.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if err := imapLogin(t, v, cfg, &testoauth.XOAuth2{User: user, Token: fresh.AccessToken}); err != nil {
		t.Fatalf("XOAUTH2 with the refreshed token: %v\n%s", err, v.Log())
	}
}
