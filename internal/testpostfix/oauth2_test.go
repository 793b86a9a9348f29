package testpostfix_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/testca"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
	"github.com/mailmerge/mailmerge/internal/testoauth"
	"github.com/mailmerge/mailmerge/internal/testpostfix"
)

const user = "kafedra@example.com"

// TestOAuth2 submits mail to Postfix with SMTP AUTH XOAUTH2 and
// OAUTHBEARER, tokens from a real authorization server checked by
// Dovecot's oauth2 passdb behind Postfix's AUTH (smtpd_sasl_type =
// dovecot) for the scope SMTP.Send; a revoked token, a token without
// that scope and another user's token are refused with 535; a password
// user keeps working.
func TestOAuth2(t *testing.T) {
	testpostfix.Need(t)
	as := testoauth.Start(t, testoauth.Options{})
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	p := testpostfix.Start(t, testpostfix.Options{
		TLS:   ca.Server,
		Users: map[string]string{"sekretar@example.com": "s3cret-pw"},
		OAuth2: &testdovecot.OAuth2{
			IntrospectionURL: as.IntrospectURL,
			ClientID:         as.ResourceClientID,
			ClientSecret:     as.ResourceSecret,
			Scope:            "SMTP.Send",
		},
	})
	cfg := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}
	_, tok := as.Login(t, user)

	// send submits one letter after AUTH with sc; it returns AUTH's error.
	send := func(t *testing.T, sc sasl.Client, subject string) error {
		t.Helper()
		c, err := smtp.DialStartTLS(fmt.Sprintf("127.0.0.1:%d", p.Port), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "XOAUTH2") || !strings.Contains(mechs, "OAUTHBEARER") {
			t.Fatalf("AUTH %q after STARTTLS", mechs)
		}
		if err := c.Auth(sc); err != nil {
			return err
		}
		msg := "From: " + user + "\r\nTo: dekanat@example.com\r\nSubject: " + subject + "\r\n\r\nHello\r\n"
		if err := c.SendMail(user, []string{"dekanat@example.com"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("send: %v", err)
		}
		return c.Quit()
	}

	for _, sc := range []sasl.Client{
		&testoauth.XOAuth2{User: user, Token: tok.AccessToken},
		&testoauth.OAuthBearer{User: user, Token: tok.AccessToken},
		sasl.NewPlainClient("", "sekretar@example.com", "s3cret-pw"),
	} {
		mech, _, _ := sc.Start()
		if err := send(t, sc, mech); err != nil {
			t.Fatalf("AUTH %s: %v", mech, err)
		}
	}
	waitFor(t, p.Inbox, "XOAUTH2", "OAUTHBEARER", "PLAIN")

	refused := func(t *testing.T, user, token string) {
		t.Helper()
		for _, sc := range []sasl.Client{
			&testoauth.XOAuth2{User: user, Token: token},
			&testoauth.OAuthBearer{User: user, Token: token},
		} {
			var se *smtp.SMTPError
			if err := send(t, sc, "refused"); !errors.As(err, &se) || se.Code != 535 {
				t.Errorf("AUTH with a bad token: %v, want 535", err)
			}
		}
	}
	t.Run("no SMTP scope", func(t *testing.T) {
		_, imapOnly := as.Login(t, user, "IMAP.AccessAsUser.All", "offline_access")
		refused(t, user, imapOnly.AccessToken)
	})
	t.Run("another user's token", func(t *testing.T) {
		_, other := as.Login(t, "dekanat@example.com")
		refused(t, user, other.AccessToken)
	})
	t.Run("revoked", func(t *testing.T) {
		as.Revoke(t, tok.RefreshToken)
		refused(t, user, tok.AccessToken)
	})
}

// waitFor waits until the inbox holds a letter with each subject.
func waitFor(t *testing.T, inbox string, subjects ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var all strings.Builder
		files, _ := filepath.Glob(filepath.Join(inbox, "new", "*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			all.Write(b)
		}
		missing := 0
		for _, s := range subjects {
			if !strings.Contains(all.String(), "Subject: "+s+"\n") {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d letters did not arrive in %s", missing, len(subjects), inbox)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
