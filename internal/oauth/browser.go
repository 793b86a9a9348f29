package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// LoginBrowser logs c's user in through their browser: the authorization
// code grant with PKCE (RFC 7636, S256) and a loopback redirect (RFC 8252
// §7.3). It listens on a random port of 127.0.0.1, calls say with the
// address of the sign-in page (for the user to copy, where open cannot
// start a browser), and open with the same address, whose error it
// ignores. The user signs in; their browser is sent back to the listener
// with a code, which LoginBrowser exchanges for tokens, showing the user
// a page that says they may close the window. A response whose state
// does not match is refused, and the login goes on waiting. It waits
// until ctx is done.
//
// Microsoft and Google take any port on a loopback redirect URI for a
// public client (Entra ID's "Mobile and desktop applications" platform,
// Google's "Desktop app"); the redirect URI is http://127.0.0.1:PORT/.
func LoginBrowser(ctx context.Context, c Client, open func(url string) error, say func(url string)) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("browser login: listen for the browser: %w", err)
	}
	req := newAuthRequest(c, "http://"+ln.Addr().String()+"/")
	cb := &callback{ctx: withHTTP(ctx), req: req, username: c.Username, done: make(chan result, 1)}
	srv := &http.Server{Handler: cb, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	defer func() {
		// Let the last page reach the browser, then stop.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	if say != nil {
		say(req.url)
	}
	if open != nil {
		_ = open(req.url) // the user has the address from say
	}
	select {
	case r := <-cb.done:
		return r.tok, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("browser login: %w", ctx.Err())
	}
}

// authRequest is one authorization request: its state, which ties the
// browser's answer to it, and its PKCE code verifier, which proves to the
// token endpoint that the code came back to the program that asked.
type authRequest struct {
	conf            *oauth2.Config
	state, verifier string
	url             string // of the sign-in page
}

func newAuthRequest(c Client, redirectURL string) *authRequest {
	r := &authRequest{conf: c.config(redirectURL), state: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(r.verifier)}
	if c.Username != "" {
		// The sign-in page offers the right account (OpenID Connect
		// Core §3.1.2.1; Microsoft and Google take it).
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", c.Username))
	}
	r.url = r.conf.AuthCodeURL(r.state, opts...)
	return r
}

type result struct {
	tok *oauth2.Token
	err error
}

// callback is the loopback listener's handler: it takes the first answer
// with the request's state, and shows the browser how the login went.
type callback struct {
	ctx      context.Context // of the login, for the code exchange
	req      *authRequest
	username string
	claimed  atomic.Bool
	done     chan result // gets the one outcome
}

func (cb *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(cb.req.state)) != 1 {
		showPage(w, http.StatusBadRequest, "This is not the sign-in mailmerge is waiting for",
			"Its state does not match the one mailmerge sent: it may be from an earlier login. Go back to mailmerge and open the address it shows.")
		return
	}
	if !cb.claimed.CompareAndSwap(false, true) {
		showPage(w, http.StatusConflict, "Already signed in", "mailmerge has this sign-in already. You can close this window.")
		return
	}
	tok, err := cb.finish(q)
	if err != nil {
		showPage(w, http.StatusOK, "mailmerge could not log you in", err.Error()+". Go back to mailmerge.")
	} else {
		who := "You are logged in."
		if cb.username != "" {
			who = "You are logged in as " + cb.username + "."
		}
		showPage(w, http.StatusOK, "mailmerge: logged in", who+" You can close this window and go back to mailmerge.")
	}
	cb.done <- result{tok, err}
}

// finish exchanges the code of the authorization response q for tokens.
func (cb *callback) finish(q url.Values) (*oauth2.Token, error) {
	if e := q.Get("error"); e != "" {
		return nil, &AuthError{Code: e, Description: oneLine(q.Get("error_description"))}
	}
	code := q.Get("code")
	if code == "" {
		return nil, errors.New("browser login: the sign-in page sent back no code")
	}
	tok, err := cb.req.conf.Exchange(cb.ctx, code, oauth2.VerifierOption(cb.req.verifier))
	if err != nil {
		return nil, fmt.Errorf("browser login: exchange the code for tokens: %w", plainError(err))
	}
	return tok, nil
}

// AuthError is an authorization server's refusal of a login (RFC 6749
// §4.1.2.1, RFC 8628 §3.5): access_denied (Microsoft's device flow:
// authorization_declined) when the user declined.
type AuthError struct {
	Code        string
	Description string
}

func (e *AuthError) Error() string {
	msg := "the login was refused (" + e.Code + ")"
	if e.Code == "access_denied" || e.Code == "authorization_declined" {
		msg = "the login was declined or cancelled (" + e.Code + ")"
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;line-height:1.5}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

func showPage(w http.ResponseWriter, status int, title, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	page.Execute(w, struct{ Title, Text string }{title, text})
}
