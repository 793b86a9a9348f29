package mailing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/oauth2"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/oauth"
)

// OAuthClient is the application and the user the config logs in as,
// for auth: oauth2.
func OAuthClient(cfg *config.Config) (oauth.Client, error) {
	s := cfg.SMTP
	if s.Auth != config.OAuth && (cfg.IMAP.Host == "" || cfg.IMAP.Auth != config.OAuth) {
		return oauth.Client{}, fail(Config, cfg.KeyErr("smtp.auth", errors.New("mailmerge login is for auth: oauth2; this config logs in with a password")))
	}
	o := s.OAuth2
	return oauth.Client{ClientID: o.ClientID, ClientSecret: o.ClientSecret, AuthURL: o.AuthURL, TokenURL: o.TokenURL, DeviceURL: o.DeviceURL, Scopes: o.Scopes, Username: s.Username}, nil
}

// SignInOptions say how mailmerge login asks the user to log in.
type SignInOptions struct {
	Device bool                               // the device flow: a code entered elsewhere
	Say    func(url string)                   // the browser flow: the address to open
	Open   func(url string) error             // the browser flow: opens the address
	Show   func(verificationURI, code string) // the device flow: where and what to enter
}

// Signed is a login that mailmerge keeps.
type Signed struct {
	oauth.Status
	Server    string // the authorization server's host
	NoRefresh bool   // the server gave no refresh token: log in again when the token expires
}

// SignIn logs the config's user in with OAuth2 (mailmerge login) and
// keeps the tokens in the credential store.
func SignIn(ctx context.Context, cfg *config.Config, opts SignInOptions) (*Signed, error) {
	c, err := OAuthClient(cfg)
	if err != nil {
		return nil, err
	}
	if p, ok := config.Providers[strings.ToLower(strings.TrimSpace(cfg.SMTP.Provider))]; ok && opts.Device && p.DeviceUnsupported != "" {
		return nil, &Error{Kind: Usage, Err: errors.New("login --device: " + p.DeviceUnsupported)}
	}
	store, err := oauth.NewStore()
	if err != nil {
		return nil, fail(Config, err)
	}
	var tok *oauth2.Token
	if opts.Device {
		tok, err = oauth.LoginDevice(ctx, c, opts.Show)
	} else {
		tok, err = oauth.LoginBrowser(ctx, c, opts.Open, opts.Say)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return nil, err
	case err != nil:
		return nil, &Error{Kind: Auth, Err: err, Hint: "run mailmerge login again"}
	}
	if err := store.Save(c.Account(), tok); err != nil {
		return nil, err
	}
	forget(c.Account())
	// Read back, as send will.
	src, err := oauth.NewSource(ctx, c, store)
	if err != nil {
		return nil, err
	}
	return &Signed{Status: src.Status(), Server: host(c.TokenURL), NoRefresh: tok.RefreshToken == ""}, nil
}

// SignOut forgets the tokens of the config's user (mailmerge logout).
// It reports false when there were none.
func SignOut(cfg *config.Config) (was bool, server string, err error) {
	c, err := OAuthClient(cfg)
	if err != nil {
		return false, "", err
	}
	store, err := oauth.NewStore()
	if err != nil {
		return false, "", fail(Config, err)
	}
	forget(c.Account())
	err = store.Delete(c.Account())
	if errors.Is(err, oauth.ErrNotLoggedIn) {
		return false, host(c.TokenURL), nil
	}
	return err == nil, host(c.TokenURL), err
}

// sources are the token sources of this process, by account: one login
// is one Source for every session, SMTP and IMAP, so that a refresh is
// made once and seen by all.
var sources = struct {
	sync.Mutex
	m map[oauth.Account]*oauth.Source
}{m: map[oauth.Account]*oauth.Source{}}

// tokens is the source of the config's access tokens, for a session's
// Token; an error that says to run mailmerge login when nobody did.
func tokens(ctx context.Context, cfg *config.Config) (*oauth.Source, error) {
	c, err := OAuthClient(cfg)
	if err != nil {
		return nil, err
	}
	sources.Lock()
	defer sources.Unlock()
	if src, ok := sources.m[c.Account()]; ok {
		return src, nil
	}
	store, err := oauth.NewStore()
	if err != nil {
		return nil, fail(Config, err)
	}
	src, err := oauth.NewSource(ctx, c, store)
	if errors.Is(err, oauth.ErrNotLoggedIn) {
		return nil, &Error{Kind: Auth, Err: fmt.Errorf("%s is not logged in at %s (auth: oauth2)", c.Username, host(c.TokenURL)),
			Hint: "run mailmerge login (or mailmerge login --device on a machine without a browser)"}
	}
	if err != nil {
		return nil, fail(Config, err)
	}
	sources.m[c.Account()] = src
	return src, nil
}

// host is the host of an endpoint, to name a server.
func host(endpoint string) string {
	_, rest, ok := strings.Cut(endpoint, "://")
	if !ok {
		rest = endpoint
	}
	h, _, _ := strings.Cut(rest, "/")
	return h
}

// forget drops the Source of an account that logged in or out anew.
func forget(a oauth.Account) {
	sources.Lock()
	defer sources.Unlock()
	delete(sources.m, a)
}

// LoginAccount is the config of the account mailmerge login (or logout)
// is for: the one of smtp:, or the account of accounts: named name;
// with no name, the one account that logs in with oauth2.
func LoginAccount(cfg *config.Config, name string) (*config.Config, error) {
	if len(cfg.Accounts) == 0 {
		if name != "" {
			return nil, &Error{Kind: Usage, Err: fmt.Errorf("--account %s: this config has no accounts list, only smtp", name)}
		}
		return cfg, nil
	}
	if name != "" {
		a, ok := cfg.AccountNamed(name)
		if !ok {
			return nil, &Error{Kind: Usage, Err: fmt.Errorf("--account %s: no such account in the accounts list", name)}
		}
		return cfg.ForAccount(a), nil
	}
	var oauth []config.Account
	var names []string
	for _, a := range cfg.Accounts {
		if a.Auth == config.OAuth {
			oauth = append(oauth, a)
			names = append(names, a.Name)
		}
	}
	if len(oauth) == 1 {
		return cfg.ForAccount(oauth[0]), nil
	}
	if len(oauth) == 0 {
		return nil, fail(Config, errors.New("no account of accounts: logs in with auth: oauth2: mailmerge login is not needed"))
	}
	return nil, &Error{Kind: Usage, Err: fmt.Errorf("several accounts log in with oauth2 (%s): say which with --account NAME, and log in to each", strings.Join(names, ", "))}
}

// Lines says who is logged in where (what: "logged in as"), with which
// scopes, until when.
func (s *Signed) Lines(what string) []string {
	out := []string{fmt.Sprintf("%s %s at %s", what, s.Username, s.Server), "  scopes: " + strings.Join(s.Scopes, " ")}
	if !s.Expiry.IsZero() {
		out = append(out, fmt.Sprintf("  the access token is good until %s; mailmerge renews it", s.Expiry.Local().Format("2006-01-02 15:04")))
	}
	return out
}
