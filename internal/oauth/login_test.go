package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

var testClient = Client{
	ClientID: "0f3c9a1e-client",
	AuthURL:  "https://login.example/organizations/oauth2/v2.0/authorize?tenant=x",
	TokenURL: "https://login.example/organizations/oauth2/v2.0/token",
	Scopes:   []string{"https://outlook.office.com/SMTP.Send", "offline_access"},
	Username: "kafedra@univ.example",
}

// TestAuthRequest checks the authorization request: PKCE with S256, a
// fresh state and verifier each time, the loopback redirect and the
// login hint.
func TestAuthRequest(t *testing.T) {
	r := newAuthRequest(testClient, "http://127.0.0.1:4242/")
	u, err := url.Parse(r.url)
	if err != nil {
		t.Fatal(err)
	}
	if base := u.Scheme + "://" + u.Host + u.Path; !strings.HasPrefix(testClient.AuthURL, base) {
		t.Errorf("the request goes to %s", base)
	}
	q := u.Query()
	want := map[string]string{
		"tenant":                "x",
		"response_type":         "code",
		"client_id":             testClient.ClientID,
		"redirect_uri":          "http://127.0.0.1:4242/",
		"scope":                 "https://outlook.office.com/SMTP.Send offline_access",
		"state":                 r.state,
		"code_challenge_method": "S256",
		"code_challenge":        oauth2.S256ChallengeFromVerifier(r.verifier),
		"login_hint":            testClient.Username,
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q) != len(want) {
		t.Errorf("the request has %d parameters, want %d: %v", len(q), len(want), q)
	}
	if len(r.verifier) != 43 || len(r.state) != 43 {
		t.Errorf("verifier of %d chars, state of %d; want 43 (32 random bytes)", len(r.verifier), len(r.state))
	}
	again := newAuthRequest(testClient, "http://127.0.0.1:4242/")
	if again.state == r.state || again.verifier == r.verifier || r.state == r.verifier {
		t.Error("state and verifier are not fresh")
	}
	noUser := testClient
	noUser.Username = ""
	if q := mustQuery(t, newAuthRequest(noUser, "http://127.0.0.1:1/").url); q.Has("login_hint") {
		t.Error("login_hint without a user")
	}
}

func mustQuery(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

// TestCallback checks the loopback listener's handler: only the answer
// with the request's state counts, once.
func TestCallback(t *testing.T) {
	req := newAuthRequest(testClient, "http://127.0.0.1:4242/")
	cb := &callback{ctx: context.Background(), req: req, username: testClient.Username, done: make(chan result, 1)}
	serve := func(target string) (int, string) {
		w := httptest.NewRecorder()
		cb.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		return w.Code, w.Body.String()
	}
	for _, tc := range []struct {
		target string
		code   int
		page   string
	}{
		{"/favicon.ico", 404, ""},
		{"/?code=abc", 400, "not the sign-in mailmerge is waiting for"},
		{"/?code=abc&state=" + url.QueryEscape(req.state[:42]), 400, "state does not match"},
		{"/?code=abc&state=" + url.QueryEscape(req.state) + "x", 400, "state does not match"},
		{"/?error=access_denied&state=wrong", 400, "not the sign-in"},
	} {
		code, page := serve(tc.target)
		if code != tc.code || !strings.Contains(page, tc.page) {
			t.Errorf("GET %s: %d %q, want %d with %q", tc.target, code, page, tc.code, tc.page)
		}
		select {
		case r := <-cb.done:
			t.Fatalf("GET %s ended the login: %v", tc.target, r.err)
		default:
		}
	}

	code, page := serve("/?error=access_denied&error_description=The+user+cancelled.&state=" + url.QueryEscape(req.state))
	if code != 200 || !strings.Contains(page, "could not log you in") || !strings.Contains(page, "declined or cancelled") {
		t.Errorf("the declined login's page: %d %q", code, page)
	}
	r := <-cb.done
	var ae *AuthError
	if !errors.As(r.err, &ae) || ae.Code != "access_denied" || ae.Description != "The user cancelled." {
		t.Fatalf("declined login: %v", r.err)
	}
	if code, page := serve("/?code=abc&state=" + url.QueryEscape(req.state)); code != 409 || !strings.Contains(page, "Already") {
		t.Errorf("a second answer: %d %q", code, page)
	}
}

// TestLoginBrowserWaitsPastWrongState runs the whole browser login: an
// answer with another state is refused and the login goes on waiting
// (a page of another origin can reach the loopback port); the answer
// with the right state ends it. Neither reaches a token endpoint.
func TestLoginBrowserWaitsPastWrongState(t *testing.T) {
	said := make(chan string, 1)
	opened := make(chan string, 1)
	done := make(chan result, 1)
	go func() {
		tok, err := LoginBrowser(context.Background(), testClient,
			func(u string) error { opened <- u; return errors.New("no browser") },
			func(u string) { said <- u })
		done <- result{tok, err}
	}()
	authURL := <-said
	if u := <-opened; u != authURL {
		t.Fatalf("opened %q, said %q", u, authURL)
	}
	q := mustQuery(t, authURL)
	redirect := q.Get("redirect_uri")
	if !strings.HasPrefix(redirect, "http://127.0.0.1:") || !strings.HasSuffix(redirect, "/") {
		t.Fatalf("redirect_uri %q", redirect)
	}
	get := func(query string) (int, string) {
		resp, err := http.Get(redirect + "?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, page := get("code=stolen&state=guess"); code != 400 || !strings.Contains(page, "not the sign-in") {
		t.Fatalf("wrong state: %d %q", code, page)
	}
	select {
	case r := <-done:
		t.Fatalf("a wrong state ended the login: %v", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	if code, _ := get("error=access_denied&state=" + url.QueryEscape(q.Get("state"))); code != 200 {
		t.Fatalf("the right state: %d", code)
	}
	r := <-done
	var ae *AuthError
	if !errors.As(r.err, &ae) || ae.Code != "access_denied" {
		t.Fatalf("login: %v", r.err)
	}
	if _, err := http.Get(redirect); err == nil {
		t.Error("the listener still answers after the login")
	}
}

func TestLoginBrowserCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	said := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := LoginBrowser(ctx, testClient, nil, func(u string) { said <- u })
		done <- err
	}()
	redirect := mustQuery(t, <-said).Get("redirect_uri")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("login after cancel: %v", err)
	}
	if _, err := http.Get(redirect); err == nil {
		t.Error("the listener still answers after the login")
	}
}

// tokenServer is a fake authorization server for the fault cases: answer
// says what its token endpoint answers to each request (the device
// endpoint, if asked, gives a fixed code).
type tokenServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []url.Values
	times    []time.Time
}

func newTokenServer(t *testing.T, answer func(n int, form url.Values) (int, any)) *tokenServer {
	return newDeviceServer(t, 900, answer)
}

// newDeviceServer is a tokenServer whose device codes expire in
// expiresIn seconds.
func newDeviceServer(t *testing.T, expiresIn int, answer func(n int, form url.Values) (int, any)) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/device" {
			json.NewEncoder(w).Encode(map[string]any{"device_code": "dev-code", "user_code": "WDJB-MJHT", "verification_uri": "https://login.example/device", "expires_in": expiresIn, "interval": 1})
			return
		}
		ts.mu.Lock()
		n := len(ts.requests)
		ts.requests = append(ts.requests, r.PostForm)
		ts.times = append(ts.times, time.Now())
		ts.mu.Unlock()
		status, body := answer(n, r.PostForm)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) client() Client {
	c := testClient
	c.AuthURL, c.TokenURL, c.DeviceURL = ts.URL+"/authorize", ts.URL+"/token", ts.URL+"/device"
	return c
}

func (ts *tokenServer) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.requests)
}

func oauthError(code, desc string) map[string]string {
	return map[string]string{"error": code, "error_description": desc}
}

func TestLoginDeviceSlowDown(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, func(n int, form url.Values) (int, any) {
		if n == 0 {
			return 400, oauthError("slow_down", "")
		}
		return 200, map[string]any{"access_token": "at", "refresh_token": "rt", "token_type": "Bearer", "expires_in": 3600, "scope": "SMTP.Send"}
	})
	var uri, code string
	tok, err := LoginDevice(context.Background(), ts.client(), func(u, c string) { uri, code = u, c })
	if err != nil {
		t.Fatal(err)
	}
	if uri != "https://login.example/device" || code != "WDJB-MJHT" {
		t.Errorf("shown %q %q", uri, code)
	}
	if tok.AccessToken != "at" || tok.RefreshToken != "rt" {
		t.Errorf("token %+v", tok)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if f := ts.requests[0]; f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || f.Get("device_code") != "dev-code" || f.Get("client_id") != testClient.ClientID {
		t.Errorf("poll form: %v", f)
	}
	// RFC 8628 §3.5: after slow_down, 5 s more between polls.
	if gap := ts.times[1].Sub(ts.times[0]); gap < 5*time.Second {
		t.Errorf("the poll after slow_down came after %v, want 6 s", gap)
	}
}

func TestLoginDeviceFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer func(n int) (int, any)
		want   string
		is     error
	}{
		{"expired", func(int) (int, any) { return 400, oauthError("expired_token", "") }, "run mailmerge login --device again", ErrCodeExpired},
		{"declined", func(int) (int, any) {
			return 400, oauthError("authorization_declined", "AADSTS70000: the user declined")
		}, "declined or cancelled (authorization_declined): AADSTS70000", nil},
		{"denied", func(int) (int, any) { return 400, oauthError("access_denied", "") }, "declined or cancelled (access_denied)", nil},
		{"html", func(int) (int, any) { return 502, "<html>bad gateway</html>" }, "the server answered 502 Bad Gateway", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTokenServer(t, func(n int, _ url.Values) (int, any) { return tc.answer(n) })
			_, err := LoginDevice(context.Background(), ts.client(), func(string, string) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}

	t.Run("code expires", func(t *testing.T) {
		t.Parallel()
		ts := newDeviceServer(t, 2, func(int, url.Values) (int, any) { return 400, oauthError("authorization_pending", "") })
		_, err := LoginDevice(context.Background(), ts.client(), func(string, string) {})
		if !errors.Is(err, ErrCodeExpired) || !strings.Contains(err.Error(), "--device again") {
			t.Fatalf("err = %v, want ErrCodeExpired", err)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		ts := newTokenServer(t, func(int, url.Values) (int, any) { return 400, oauthError("authorization_pending", "") })
		ctx, cancel := context.WithCancel(context.Background())
		_, err := LoginDevice(ctx, ts.client(), func(string, string) { time.AfterFunc(1500*time.Millisecond, cancel) })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("no device endpoint", func(t *testing.T) {
		t.Parallel()
		c := testClient
		c.DeviceURL = ""
		if _, err := LoginDevice(context.Background(), c, nil); err == nil || !strings.Contains(err.Error(), "without --device") {
			t.Fatalf("err = %v", err)
		}
	})
}
