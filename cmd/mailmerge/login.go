package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/oauth"
)

func newLoginCmd() *cobra.Command {
	var device bool
	var account string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to your mail provider with OAuth2 (auth: oauth2) and keep the tokens",
		Long:  help("login"),
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loginConfig(cmd, account)
			if err != nil {
				return err
			}
			stderr, user := cmd.ErrOrStderr(), cfg.SMTP.Username
			signed, err := mailing.SignIn(cmd.Context(), cfg, mailing.SignInOptions{
				Device: device,
				Open:   oauth.OpenBrowser,
				Say: func(url string) {
					fmt.Fprintf(stderr, "Log in as %s in your browser. If it does not open, open this address:\n  %s\n", user, url)
					fmt.Fprintln(stderr, "Waiting for the login (Ctrl-C to stop; on a machine without a browser, use mailmerge login --device)...")
				},
				Show: func(uri, code string) {
					fmt.Fprintf(stderr, "To log in as %s, open %s on any device and enter the code %s\n", user, uri, code)
					fmt.Fprintln(stderr, "Waiting for the login (Ctrl-C to stop)...")
				},
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(signed.Lines("logged in as"), "\n"))
			if signed.NoRefresh {
				fmt.Fprintf(stderr, "warning: the server gave no refresh token: log in again when the access token expires (ask for the scope that grants one, e.g. offline_access)\n")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&device, "device", false, "log in with a code entered on another device (for SSH sessions and servers)")
	cmd.Flags().StringVar(&account, "account", "", "the account of accounts: to log in to")
	return cmd
}

func newLogoutCmd() *cobra.Command {
	var account string
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Forget the tokens of mailmerge login",
		Long:  help("logout"),
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loginConfig(cmd, account)
			if err != nil {
				return err
			}
			was, server, err := mailing.SignOut(cfg)
			switch {
			case err != nil:
				return err
			case !was:
				fmt.Fprintf(cmd.OutOrStdout(), "not logged in as %s at %s: nothing to forget\n", cfg.SMTP.Username, server)
			default:
				fmt.Fprintf(cmd.OutOrStdout(), "logged out: the tokens of %s at %s are forgotten\n", cfg.SMTP.Username, server)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "the account of accounts: to log out of")
	return cmd
}

// loginConfig is the config of the account login and logout are for
// (mailing.LoginAccount).
func loginConfig(cmd *cobra.Command, account string) (*config.Config, error) {
	cfg, err := loadConfigFor(cmd, nil, config.NotLogin)
	if err != nil {
		return nil, err
	}
	return mailing.LoginAccount(cfg, account)
}
