package testdovecot

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// OAuth2 makes Dovecot's auth take OAuth 2.0 bearer tokens besides
// passwords: the SASL mechanisms XOAUTH2 and OAUTHBEARER (RFC 7628),
// checked by Dovecot's oauth2 passdb at an RFC 7662 introspection
// endpoint (introspection_mode = post) on every login, without a cache,
// so that a revoked or expired token is refused at once. The token's
// subject (sub) must be the login name (the user's address, as
// "kafedra@example.com"); the mail is that of its local part.
type OAuth2 struct {
	// IntrospectionURL is the authorization server's introspection
	// endpoint, reached with HTTP Basic authentication as ClientID.
	IntrospectionURL       string
	ClientID, ClientSecret string
	// Scope, if set, is a scope every token must carry, as
	// "IMAP.AccessAsUser.All"; any token of the user will do when empty.
	Scope string
}

// Conf is what dovecot.conf needs, beside a passwd-file passdb, for
// OAuth2; the zero Conf (of a nil *OAuth2) changes nothing.
type Conf struct {
	// Mechanisms, appended to auth_mechanisms: " xoauth2 oauthbearer".
	Mechanisms string
	// PasswdMechanisms, inside the passwd-file passdb block, keeps it to
	// the password mechanisms.
	PasswdMechanisms string
	// Passdb is the oauth2 passdb block, with auth_verbose (the log
	// says why a token was refused; Dovecot logs no token) and
	// auth_failure_delay = 0 (a refusal is answered at once, not after
	// 2 s).
	Passdb string
	// Anvil, inside the service anvil block, turns off the auth
	// penalty: after failed logins from an address, Dovecot 2.3 delays
	// the next ones from it by 2, 4, 8, then 15 s (even from
	// login_trusted_networks), which tests of refused tokens would wait
	// out. The auth process, not root, cannot open the socket and goes
	// without.
	Anvil string
}

// Conf writes the oauth2 passdb's settings into dir and returns the
// dovecot.conf parts that use them. internal/testpostfix uses it for the
// Dovecot behind Postfix's AUTH.
func (o *OAuth2) Conf(dir string) (Conf, error) {
	if o == nil {
		return Conf{}, nil
	}
	u, err := url.Parse(o.IntrospectionURL)
	if err != nil {
		return Conf{}, fmt.Errorf("introspection URL: %w", err)
	}
	u.User = url.UserPassword(o.ClientID, o.ClientSecret)
	settings := fmt.Sprintf(`introspection_mode = post
introspection_url = %s
force_introspection = yes
username_attribute = sub
active_attribute = active
active_value = true
`, u)
	if o.Scope != "" {
		settings += "scope = " + o.Scope + "\n"
	}
	// Dovecot's auth process reads it as its own user.
	file := filepath.Join(dir, "oauth2.conf.ext")
	if err := os.WriteFile(file, []byte(settings), 0o644); err != nil {
		return Conf{}, err
	}
	return Conf{
		Mechanisms:       " xoauth2 oauthbearer",
		PasswdMechanisms: "  mechanisms = plain login\n",
		Passdb: fmt.Sprintf(`passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %s
}
auth_verbose = yes
auth_failure_delay = 0
`, file),
		Anvil: `  unix_listener anvil-auth-penalty {
    mode = 0
  }
`,
	}, nil
}

// Log is what the instance has logged so far: with OAuth2, why a token
// was refused (Dovecot logs no token).
func (v *Dovecot) Log() string {
	out, _ := os.ReadFile(filepath.Join(filepath.Dir(v.conf), "log"))
	return string(out)
}
