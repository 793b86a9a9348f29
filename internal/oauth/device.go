package oauth

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"
)

// ErrCodeExpired is the error of a device login whose code expired
// before the user entered it.
var ErrCodeExpired = errors.New("the code expired before the login was approved; run mailmerge login --device again")

// LoginDevice logs c's user in with the device authorization grant (RFC
// 8628), for a machine without a browser: it asks the server for a code,
// calls show with the address where the user enters it (on any device)
// and the code, then polls the token endpoint at the interval the server
// names, slower when it says slow_down, until the user approves or
// declines, the code expires, or ctx is done.
func LoginDevice(ctx context.Context, c Client, show func(verificationURI, userCode string)) (*oauth2.Token, error) {
	if c.DeviceURL == "" {
		return nil, errors.New("device login: the provider has no device authorization endpoint (smtp.oauth2.device_url): log in without --device")
	}
	conf := c.config("")
	hctx := withHTTP(ctx)
	da, err := conf.DeviceAuth(hctx)
	if err != nil {
		return nil, fmt.Errorf("device login: ask for a code: %w", deviceError(err))
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, errors.New("device login: the server's answer lacks the device code, the user code or the verification address")
	}
	show(da.VerificationURI, da.UserCode)
	tok, err := conf.DeviceAccessToken(hctx, da)
	switch {
	case err == nil:
		return tok, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("device login: %w", ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		// x/oauth2 stops polling when the code expires.
		return nil, fmt.Errorf("device login: %w", ErrCodeExpired)
	}
	return nil, fmt.Errorf("device login: %w", deviceError(err))
}

// deviceError says an error answer of the device flow in words.
func deviceError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	switch re.ErrorCode {
	case "expired_token":
		return ErrCodeExpired
	case "access_denied", "authorization_declined":
		return &AuthError{Code: re.ErrorCode, Description: oneLine(re.ErrorDescription)}
	}
	return plainError(err)
}
