package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/mailmerge/mailmerge/internal/testca"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
	"github.com/mailmerge/mailmerge/internal/testoauth"
)

// TestTokenLogin logs in to a real Dovecot with tokens of a real
// authorization server (Dovecot's oauth2 passdb introspects them): a
// good token; a revoked one, renewed once on a new connection (Dovecot
// closes the one on which it refused an XOAUTH2 token); a renewal that
// is refused too, which says to log in again; and no token in any error.
func TestTokenLogin(t *testing.T) {
	testdovecot.Need(t)
	as := testoauth.Start(t, testoauth.Options{})
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	v := testdovecot.Start(t, testdovecot.Options{TLS: ca.Server, OAuth2: &testdovecot.OAuth2{
		IntrospectionURL: as.IntrospectURL, ClientID: as.ResourceClientID, ClientSecret: as.ResourceSecret, Scope: "IMAP.AccessAsUser.All",
	}})
	const user = "kafedra@example.com"
	_, good := as.Login(t, user)
	_, stale := as.Login(t, user)
	as.Revoke(t, stale.RefreshToken) // its access token dies with the grant
	_, other := as.Login(t, "dekanat@example.com")

	tests := []struct {
		name   string
		tokens []string // handed out in turn, one more for each refusal
		asked  int
		err    string
	}{
		{"good token", []string{good.AccessToken}, 1, ""},
		{"revoked, renewed", []string{stale.AccessToken, good.AccessToken}, 2, ""},
		{"refused after renewal", []string{stale.AccessToken, other.AccessToken}, 2, "refused the OAuth2 login of kafedra@example.com: run mailmerge login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			asked, i := 0, 0
			s := Server{Host: "127.0.0.1", Port: v.Port, Security: TLS, Username: user, TLS: &tls.Config{RootCAs: ca.Pool},
				Token: func(_ context.Context, refused string) (string, error) {
					mu.Lock()
					defer mu.Unlock()
					asked++
					if refused != "" && refused == tt.tokens[i] {
						i = min(i+1, len(tt.tokens)-1)
					}
					return tt.tokens[i], nil
				}}
			m, err := Dial(context.Background(), s)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Dial: %v\n%s", err, v.Log())
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrLogin)):
				t.Fatalf("Dial: %v, want %q", err, tt.err)
			case err == nil:
				if _, err := m.Examine(context.Background(), "INBOX"); err != nil {
					t.Errorf("examine: %v", err)
				}
				m.Close()
			}
			if asked != tt.asked {
				t.Errorf("the token was asked for %d times, want %d", asked, tt.asked)
			}
			for _, tok := range tt.tokens {
				if err != nil && strings.Contains(err.Error(), tok) {
					t.Errorf("the error shows a token: %v", err)
				}
			}
		})
	}
}
