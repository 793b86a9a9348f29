package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/oauth"
)

func newLoginCmd() *cobra.Command {
	var device bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to your mail provider with OAuth2 (auth: oauth2) and keep the tokens",
		Long:  help("login"),
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigFor(cmd, nil, loginUnneeded)
			if err != nil {
				return err
			}
			c, err := oauthClient(cfg)
			if err != nil {
				return err
			}
			if p, ok := config.Providers[strings.ToLower(strings.TrimSpace(cfg.SMTP.Provider))]; ok && device && p.DeviceUnsupported != "" {
				return failure(mailing.Usage, errors.New("login --device: "+p.DeviceUnsupported))
			}
			store, err := oauth.NewStore()
			if err != nil {
				return failure(mailing.Config, err)
			}
			tok, err := loginWith(cmd, c, device)
			if err != nil {
				return err
			}
			if err := store.Save(c.Account(), tok); err != nil {
				return err
			}
			// Read back, as send will.
			src, err := oauth.NewSource(cmd.Context(), c, store)
			if err != nil {
				return err
			}
			st := src.Status()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "logged in as %s at %s\n", st.Username, host(c.TokenURL))
			fmt.Fprintf(out, "  scopes: %s\n", strings.Join(st.Scopes, " "))
			if !st.Expiry.IsZero() {
				fmt.Fprintf(out, "  the access token is good until %s; mailmerge renews it\n", st.Expiry.Local().Format("2006-01-02 15:04"))
			}
			if tok.RefreshToken == "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the server gave no refresh token: log in again when the access token expires (ask for the scope that grants one, e.g. offline_access)\n")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&device, "device", false, "log in with a code entered on another device (for SSH sessions and servers)")
	return cmd
}

// loginWith runs the browser or the device login, saying on stderr what
// the user is to do.
func loginWith(cmd *cobra.Command, c oauth.Client, device bool) (*oauth2.Token, error) {
	stderr := cmd.ErrOrStderr()
	var tok *oauth2.Token
	var err error
	if device {
		tok, err = oauth.LoginDevice(cmd.Context(), c, func(uri, code string) {
			fmt.Fprintf(stderr, "To log in as %s, open %s on any device and enter the code %s\n", c.Username, uri, code)
			fmt.Fprintln(stderr, "Waiting for the login (Ctrl-C to stop)...")
		})
	} else {
		tok, err = oauth.LoginBrowser(cmd.Context(), c, oauth.OpenBrowser, func(url string) {
			fmt.Fprintf(stderr, "Log in as %s in your browser. If it does not open, open this address:\n  %s\n", c.Username, url)
			fmt.Fprintln(stderr, "Waiting for the login (Ctrl-C to stop; on a machine without a browser, use mailmerge login --device)...")
		})
	}
	switch {
	case err == nil:
		return tok, nil
	case errors.Is(err, context.Canceled):
		return nil, err
	}
	return nil, &mailing.Error{Kind: mailing.Auth, Err: err, Hint: "run mailmerge login again"}
}

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the tokens of mailmerge login",
		Long:  help("logout"),
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigFor(cmd, nil, loginUnneeded)
			if err != nil {
				return err
			}
			c, err := oauthClient(cfg)
			if err != nil {
				return err
			}
			store, err := oauth.NewStore()
			if err != nil {
				return failure(mailing.Config, err)
			}
			err = store.Delete(c.Account())
			if errors.Is(err, oauth.ErrNotLoggedIn) {
				fmt.Fprintf(cmd.OutOrStdout(), "not logged in as %s at %s: nothing to forget\n", c.Username, host(c.TokenURL))
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged out: the tokens of %s at %s are forgotten\n", c.Username, host(c.TokenURL))
			return nil
		},
	}
}

// loginUnneeded: login and logout need only the keys of the login.
func loginUnneeded(key string) bool {
	switch key {
	case "smtp.provider", "smtp.username", "smtp.auth", "imap.auth":
		return false
	}
	return !strings.HasPrefix(key, "smtp.oauth2")
}

// oauthClient is the application and the user the config logs in as.
func oauthClient(cfg *config.Config) (oauth.Client, error) {
	s := cfg.SMTP
	if s.Auth != config.OAuth && (cfg.IMAP.Host == "" || cfg.IMAP.Auth != config.OAuth) {
		return oauth.Client{}, failure(mailing.Config, cfg.KeyErr("smtp.auth", fmt.Errorf("mailmerge login is for auth: oauth2; this config logs in with a password")))
	}
	o := s.OAuth2
	return oauth.Client{ClientID: o.ClientID, AuthURL: o.AuthURL, TokenURL: o.TokenURL, DeviceURL: o.DeviceURL, Scopes: o.Scopes, Username: s.Username}, nil
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
